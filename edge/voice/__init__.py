"""The voice path: voice activity, features, speech emotion model, voice analyzer."""
