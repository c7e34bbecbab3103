"""The portfolio group: account balances, positions, P&L and risk."""
