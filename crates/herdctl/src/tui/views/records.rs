//! The Records view: every node's records side by side, the clients they
//! disagree about first.

use herd_admin::RecordsPage;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::tui::format::age;
use crate::tui::hits::{Hits, Target};
use crate::tui::keys::Action;
use crate::tui::records_table::{self, HerdRecords, RECORDS_PER_NODE, SortBy};
use crate::tui::theme::{Role, Theme};

const HEADERS: [&str; 6] = [
    "client",
    "nodes",
    "received",
    "age",
    "client time",
    "position",
];

/// A client id keeps at least this much of a narrow screen.
const CLIENT_AT_LEAST: usize = 14;

/// Each column as wide as its widest cell when the screen has room; when
/// it has not, the client column gives way first (down to
/// [`CLIENT_AT_LEAST`]), then the columns on the right are cut, least
/// useful last. One space between columns.
pub fn column_widths(widest: [usize; 6], available: usize) -> [u16; 6] {
    let room = available.saturating_sub(widest.len() - 1);
    let others: usize = widest[1..].iter().sum();
    let client = widest[0]
        .min(room.saturating_sub(others))
        .max(CLIENT_AT_LEAST.min(widest[0]));
    // Left to right, each as wide as it wants while there is room: what
    // does not fit is cut at the right (ratatui would shrink them all).
    let mut left = room;
    let mut widths = [0u16; 6];
    for (i, want) in widest.iter().enumerate() {
        let want = if i == 0 { client } else { *want };
        let width = want.min(left);
        left -= width;
        widths[i] = u16::try_from(width).unwrap_or(u16::MAX);
    }
    widths
}

#[derive(Default)]
pub struct RecordsView {
    pub table: HerdRecords,
    /// Clients whose id contains this (ignoring case).
    pub filter: String,
    pub sort: SortBy,
    pub selected: usize,
}

impl RecordsView {
    /// The rows shown: filtered and sorted.
    pub fn rows(&self) -> Vec<records_table::Row> {
        self.table.rows(&self.filter, self.sort)
    }

    /// A node's page of records, or the failure to get one.
    pub fn on_records<E>(&mut self, node: &str, page: Result<RecordsPage, E>) {
        match page {
            Ok(page) => self.table.update(node, page),
            Err(_) => self.table.forget(node),
        }
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.selected = 0;
    }

    /// What the view's keys do.
    pub fn act(&mut self, action: Action) {
        match action {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => {
                let rows = self.rows().len();
                self.selected = (self.selected + 1).min(rows.saturating_sub(1));
            }
            Action::Sort => self.sort = self.sort.next(),
            _ => {}
        }
    }

    /// Esc: clears the filter; false when there was none.
    pub fn back(&mut self) -> bool {
        if self.filter.is_empty() {
            return false;
        }
        self.filter.clear();
        true
    }

    pub fn draw(&self, now: u64, frame: &mut Frame, area: Rect, theme: Theme, hits: &Hits) {
        let rows = self.rows();
        let disagreeing = rows.iter().filter(|r| !r.disagree.is_empty()).count();
        let title = format!(
            " records: {} clients{}, {} disagreeing, sorted by {}{} ",
            rows.len(),
            if self.table.most_matching() > RECORDS_PER_NODE {
                format!(" (first {} per node)", RECORDS_PER_NODE)
            } else {
                String::new()
            },
            disagreeing,
            self.sort.label(),
            if self.filter.is_empty() {
                String::new()
            } else {
                format!(", filter {:?}", self.filter)
            }
        );
        let mut widest = HEADERS.map(|h| h.chars().count());
        let table_rows: Vec<Row> = rows
            .iter()
            .map(|row| {
                let nodes = if row.disagree.is_empty() {
                    format!("{} agree", row.agree)
                } else {
                    format!(
                        "≠ {} differ: {}",
                        row.disagree.len(),
                        row.disagree.join(",")
                    )
                };
                let style = if row.disagree.is_empty() {
                    Style::default()
                } else {
                    theme.style(Role::Bad)
                };
                let received_ms = row.newest.received_us / 1000;
                let cells = [
                    row.client.clone(),
                    nodes,
                    row.newest.received_by.clone(),
                    age(now.saturating_sub(received_ms)),
                    row.newest.client_time.clone(),
                    row.newest.position.clone(),
                ];
                for (widest, cell) in widest.iter_mut().zip(&cells) {
                    *widest = (*widest).max(cell.chars().count());
                }
                Row::new(cells.map(Cell::from)).style(style)
            })
            .collect();
        let available = usize::from(area.width.saturating_sub(2));
        let widths = column_widths(widest, available).map(Constraint::Length);
        let table = Table::new(table_rows, widths)
            .header(Row::new(HEADERS).style(theme.style(Role::Dim)))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .block(Block::bordered().title(title));
        let selected = self.selected.min(rows.len().saturating_sub(1));
        let mut state = TableState::default().with_selected((!rows.is_empty()).then_some(selected));
        frame.render_stateful_widget(table, area, &mut state);
        hits.table_rows(area, state.offset(), rows.len(), Target::Record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_cells_and_a_long_client_id_takes_the_room_left() {
        // Room for everything: as wide as the widest cells.
        assert_eq!(
            column_widths([30, 7, 8, 3, 20, 21], 200),
            [30, 7, 8, 3, 20, 21]
        );
        // Not enough: the client column takes what the others leave.
        assert_eq!(
            column_widths([60, 7, 8, 3, 20, 21], 100),
            [36, 7, 8, 3, 20, 21]
        );
        // Never below 14 for the client; the right is cut instead.
        assert_eq!(
            column_widths([60, 7, 8, 3, 20, 21], 40),
            [14, 7, 8, 3, 3, 0]
        );
        assert_eq!(column_widths([6, 7, 8, 3, 20, 21], 40)[0], 6);
    }
}
