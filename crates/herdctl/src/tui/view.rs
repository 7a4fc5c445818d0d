//! The dashboard's four views, in the order of their keys (`1`..`4`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Herd,
    Records,
    Flood,
    Console,
}

impl View {
    pub const ALL: [View; 4] = [View::Herd, View::Records, View::Flood, View::Console];

    pub fn title(self) -> &'static str {
        match self {
            View::Herd => "herd",
            View::Records => "records",
            View::Flood => "flood",
            View::Console => "console",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    pub fn previous(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}
