//! Where things were drawn, for the mouse: each frame records the screen
//! areas that a click selects (a link, a node, a record, an event, a view's
//! tab), so a click is resolved against exactly what is on the screen.

use std::cell::RefCell;

use ratatui::layout::{Position, Rect};

use super::feed::FeedItem;
use super::view::View;

/// What a click on an area selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    View(View),
    /// A configured link, by index.
    Link(usize),
    /// A node, by index.
    Node(usize),
    /// A row of the Records view, in its order.
    Record(usize),
    /// A line of the Flood view, by what it shows (lines move as events
    /// arrive between the frame and the click).
    Event(EventKey),
}

/// Which feed line: its time, its node's sequence number, and its node and
/// text (hashed, to keep targets `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKey {
    ts_us: u64,
    seq: u64,
    source: u64,
}

impl EventKey {
    pub fn of(item: &FeedItem) -> EventKey {
        let mut source = item.node.clone();
        source.push('\n');
        source.push_str(&item.text());
        EventKey {
            ts_us: item.event.ts_us,
            seq: item.event.seq,
            source: xxhash_rust::xxh3::xxh3_64(source.as_bytes()),
        }
    }
}

/// The last frame's clickable areas (drawing fills it; a click reads it).
#[derive(Debug, Default)]
pub struct Hits(RefCell<Vec<(Rect, Target)>>);

impl Hits {
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }

    pub fn add(&self, area: Rect, target: Target) {
        self.0.borrow_mut().push((area, target));
    }

    /// The rows of a bordered table with a header line drawn in `area`,
    /// scrolled by `offset`: row `i` on screen is item `offset + i`.
    pub fn table_rows(
        &self,
        area: Rect,
        offset: usize,
        items: usize,
        target: impl Fn(usize) -> Target,
    ) {
        let inner_top = area.y.saturating_add(2);
        let bottom = area.y.saturating_add(area.height.saturating_sub(1));
        for (row, y) in (inner_top..bottom).enumerate() {
            let item = offset + row;
            if item >= items {
                break;
            }
            let line = Rect::new(area.x + 1, y, area.width.saturating_sub(2), 1);
            self.add(line, target(item));
        }
    }

    /// What is under the cell at (`column`, `row`), the last drawn first.
    pub fn at(&self, column: u16, row: u16) -> Option<Target> {
        self.0
            .borrow()
            .iter()
            .rev()
            .find(|(area, _)| area.contains(Position::new(column, row)))
            .map(|(_, target)| *target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_scrolled_table_are_their_items() {
        let hits = Hits::default();
        // Border, header, then three rows of a 5-high table.
        hits.table_rows(Rect::new(10, 4, 30, 6), 7, 9, Target::Record);
        assert_eq!(hits.at(10, 6), None, "the border");
        assert_eq!(hits.at(11, 5), None, "the header");
        assert_eq!(hits.at(11, 6), Some(Target::Record(7)));
        assert_eq!(hits.at(38, 7), Some(Target::Record(8)));
        assert_eq!(hits.at(20, 8), None, "only 9 items: 7 and 8 shown");
        hits.clear();
        assert_eq!(hits.at(11, 6), None);
    }
}
