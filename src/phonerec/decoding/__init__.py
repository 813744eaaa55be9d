"""Posteriors -> phones and times: CTC loss and search, the phone bigram LM, segments from posteriors."""
