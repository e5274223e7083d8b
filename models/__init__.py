"""affectd models: training recipes, the committed int8 files and their manifest."""
