"""The end of the chain: order intents from checked recommendations, and their submission."""
