//! One line of text with a cursor, for every text input of the dashboard
//! (the console's line, `:`, `/`): the editing keys of a shell (readline's
//! defaults) mapped onto `tui-input`, and the line drawn with its cursor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use tui_input::{Input, InputRequest};

#[derive(Debug, Clone, Default)]
pub struct LineEdit {
    input: Input,
}

impl PartialEq for LineEdit {
    fn eq(&self, other: &LineEdit) -> bool {
        self.value() == other.value() && self.cursor() == other.cursor()
    }
}

impl LineEdit {
    /// `text` with the cursor at its end.
    pub fn with(text: &str) -> LineEdit {
        let mut line = LineEdit::default();
        line.set(text);
        line
    }
}

impl LineEdit {
    pub fn value(&self) -> &str {
        self.input.value()
    }

    pub fn is_empty(&self) -> bool {
        self.input.value().is_empty()
    }

    /// Replaces the text; the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.input = Input::new(text.to_owned());
    }

    pub fn clear(&mut self) {
        self.input.reset();
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.input.cursor()
    }

    /// Types `text` at the cursor.
    pub fn insert(&mut self, text: &str) {
        for c in text.chars() {
            self.input.handle(InputRequest::InsertChar(c));
        }
    }

    /// An editing key: typed characters, Backspace/Delete, the cursor
    /// (←/→, Home/End, C-a/C-e), words (C-←/C-→, M-b/M-f, C-w, M-d), C-u and
    /// C-k. False when the key is not one (the caller's then).
    pub fn edit(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let request = match key.code {
            KeyCode::Char(c) if !ctrl && !alt => InputRequest::InsertChar(c),
            KeyCode::Char('a') if ctrl => InputRequest::GoToStart,
            KeyCode::Char('e') if ctrl => InputRequest::GoToEnd,
            KeyCode::Char('b') if ctrl => InputRequest::GoToPrevChar,
            KeyCode::Char('f') if ctrl => InputRequest::GoToNextChar,
            KeyCode::Char('w') if ctrl => InputRequest::DeletePrevWord,
            KeyCode::Char('u') if ctrl => InputRequest::DeleteFromStart,
            KeyCode::Char('k') if ctrl => InputRequest::DeleteTillEnd,
            KeyCode::Char('b') if alt => InputRequest::GoToPrevWord,
            KeyCode::Char('f') if alt => InputRequest::GoToNextWord,
            KeyCode::Char('d') if alt => InputRequest::DeleteNextWord,
            KeyCode::Backspace if ctrl || alt => InputRequest::DeletePrevWord,
            KeyCode::Backspace => InputRequest::DeletePrevChar,
            KeyCode::Delete => InputRequest::DeleteNextChar,
            KeyCode::Left if ctrl || alt => InputRequest::GoToPrevWord,
            KeyCode::Right if ctrl || alt => InputRequest::GoToNextWord,
            KeyCode::Left => InputRequest::GoToPrevChar,
            KeyCode::Right => InputRequest::GoToNextChar,
            KeyCode::Home => InputRequest::GoToStart,
            KeyCode::End => InputRequest::GoToEnd,
            _ => return false,
        };
        self.input.handle(request);
        true
    }

    /// The line as spans that fit `width` cells, scrolled to keep the
    /// cursor in sight; the cursor is the reversed cell (a space at the
    /// end), so it shows under NO_COLOR too. Without focus, no cursor.
    pub fn spans(&self, width: usize, focused: bool) -> Vec<Span<'static>> {
        let width = width.max(1);
        let scroll = self.input.visual_scroll(width.saturating_sub(1));
        let chars: Vec<char> = self.input.value().chars().collect();
        let cursor = self.input.cursor();
        let visible: Vec<char> = chars.iter().skip(scroll).copied().collect();
        if !focused {
            return vec![Span::raw(
                visible.into_iter().take(width).collect::<String>(),
            )];
        }
        let at = cursor.saturating_sub(scroll).min(visible.len());
        let before: String = visible[..at].iter().collect();
        let under: String = visible.get(at).map_or(" ".to_owned(), |c| c.to_string());
        let after: String = visible.iter().skip(at + 1).collect();
        vec![
            Span::raw(before),
            Span::styled(under, Style::default().add_modifier(Modifier::REVERSED)),
            Span::raw(after),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn typed(text: &str) -> LineEdit {
        let mut line = LineEdit::default();
        line.insert(text);
        line
    }

    #[test]
    fn the_cursor_moves_and_text_goes_in_where_it_is() {
        let mut line = typed("WHATSAT kiwi 10 5");
        line.edit(&key(KeyCode::Home, KeyModifiers::NONE));
        line.edit(&key(KeyCode::Right, KeyModifiers::CONTROL));
        assert_eq!(line.cursor(), 8, "at the start of the next word");
        line.edit(&key(KeyCode::Right, KeyModifiers::CONTROL));
        line.edit(&key(KeyCode::Left, KeyModifiers::NONE));
        line.edit(&key(KeyCode::Char('s'), KeyModifiers::NONE));
        assert_eq!(line.value(), "WHATSAT kiwis 10 5");
        line.edit(&key(KeyCode::End, KeyModifiers::NONE));
        line.edit(&key(KeyCode::Backspace, KeyModifiers::NONE));
        line.edit(&key(KeyCode::Char('9'), KeyModifiers::NONE));
        assert_eq!(line.value(), "WHATSAT kiwis 10 9");
        line.edit(&key(KeyCode::Char('a'), KeyModifiers::CONTROL));
        line.edit(&key(KeyCode::Delete, KeyModifiers::NONE));
        assert_eq!(line.value(), "HATSAT kiwis 10 9");
        line.edit(&key(KeyCode::Char('k'), KeyModifiers::CONTROL));
        assert!(line.is_empty());
    }

    #[test]
    fn words_are_deleted_backwards() {
        let mut line = typed("IAMAT kiwi there");
        line.edit(&key(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(line.value(), "IAMAT kiwi ");
        assert!(!line.edit(&key(KeyCode::Enter, KeyModifiers::NONE)));
        assert!(!line.edit(&key(KeyCode::Tab, KeyModifiers::NONE)));
    }

    #[test]
    fn the_cursor_is_drawn_where_it_is_and_a_long_line_scrolls_to_it() {
        let mut line = typed("abc");
        line.edit(&key(KeyCode::Left, KeyModifiers::NONE));
        let spans = line.spans(10, true);
        let texts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["ab", "c", ""]);
        let long = typed(&"x".repeat(50));
        let drawn: String = long
            .spans(10, true)
            .iter()
            .map(|s| s.content.as_ref())
            .collect();
        assert!(drawn.chars().count() <= 10, "{drawn:?}");
        assert!(
            drawn.ends_with(' '),
            "the cursor at the end shows: {drawn:?}"
        );
    }
}
