"""Using a trained model: load model.pt (weights, phone set, features, CMVN) and resolve, in one place,
how it decodes. Never imports training loops, data loading or experiment/: `from phonerec import
Recognizer` stays light."""
