"""`affectd eval …`: accuracy on labelled data (speaker-, subject- and record-independent)."""
