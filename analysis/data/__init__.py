"""Data layer: price sources, the event catalog and universe, exchange calendars, factors."""
