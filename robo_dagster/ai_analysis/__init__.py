"""The AI-analysis group: morning prep, recommendations, strategy, risk, evening review."""
