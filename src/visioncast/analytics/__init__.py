"""Analytics fed by Results: tracking, line and zone counting, dwell time, events. Pure."""
