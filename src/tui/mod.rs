//! The terminal UI: chat, task selector, pool gauges, dashboard, keys and help.
