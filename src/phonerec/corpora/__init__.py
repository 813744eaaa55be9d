"""Raw corpora -> manifest rows: TIMIT, speechocean762, the synthetic corpus, lexicons, the manifest format."""
