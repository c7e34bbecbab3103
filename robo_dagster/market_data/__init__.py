"""The market-data group: universe, prices, indicators, news, earnings, fundamentals, options."""
