//! Numbers and durations as the views write them.

/// `42`, `1.2k`, `3.4M`.
pub fn count(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// `5s`, `2m14s`, `3h05m`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `+0.35 ms`, `+5.531 s` (a hop that waited, say, behind a cut link).
pub fn micros(us: u64) -> String {
    if us < 1_000_000 {
        format!("+{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("+{:.3} s", us as f64 / 1e6)
    }
}
