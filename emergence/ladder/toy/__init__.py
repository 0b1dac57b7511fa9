"""The built-in toy world: synthetic corpus, char tokenizer, a ladder of tiny Llama models, its tasks."""
