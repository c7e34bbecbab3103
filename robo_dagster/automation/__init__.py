"""Jobs, and later schedules, sensors and automation conditions."""
