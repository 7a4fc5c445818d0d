//! The Records view: every node's records side by side, the clients they
//! disagree about first.

use herd_admin::RecordsPage;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::tui::format::age;
use crate::tui::keys::Action;
use crate::tui::records_table::{self, HerdRecords, RECORDS_PER_NODE, SortBy};
use crate::tui::theme::{Role, Theme};

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

    pub fn draw(&self, now: u64, frame: &mut Frame, area: Rect, theme: Theme) {
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
                Row::new(vec![
                    Cell::from(row.client.clone()),
                    Cell::from(nodes),
                    Cell::from(row.newest.received_by.clone()),
                    Cell::from(age(now.saturating_sub(received_ms))),
                    Cell::from(row.newest.client_time.clone()),
                    Cell::from(row.newest.position.clone()),
                ])
                .style(style)
            })
            .collect();
        // The columns that matter most come first, so a narrow screen cuts the
        // least useful ones.
        let table = Table::new(
            table_rows,
            [
                Constraint::Length(14),
                Constraint::Length(24),
                Constraint::Length(9),
                Constraint::Length(5),
                Constraint::Length(21),
                Constraint::Min(0),
            ],
        )
        .header(
            Row::new([
                "client",
                "nodes",
                "received",
                "age",
                "client time",
                "position",
            ])
            .style(theme.style(Role::Dim)),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .block(Block::bordered().title(title));
        let selected = self.selected.min(rows.len().saturating_sub(1));
        let mut state = TableState::default().with_selected((!rows.is_empty()).then_some(selected));
        frame.render_stateful_widget(table, area, &mut state);
    }
}
