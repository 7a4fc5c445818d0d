//! Colours. Colour only ever repeats what a word or glyph already says, so
//! the screen reads the same under NO_COLOR.

use ratatui::style::{Color, Modifier, Style};

use crate::health::LinkView;

/// Colours, or none (NO_COLOR).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

#[derive(Clone, Copy)]
pub enum Role {
    Good,
    Warn,
    Bad,
    Cut,
    Dim,
    Accent,
}

impl Theme {
    pub fn style(self, role: Role) -> Style {
        if !self.color {
            return match role {
                Role::Bad => Style::default().add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
        }
        let color = match role {
            Role::Good => Color::Green,
            Role::Warn => Color::Yellow,
            Role::Bad => Color::Red,
            Role::Cut => Color::Magenta,
            Role::Dim => Color::DarkGray,
            Role::Accent => Color::Cyan,
        };
        let style = Style::default().fg(color);
        match role {
            Role::Bad => style.add_modifier(Modifier::BOLD),
            _ => style,
        }
    }

    pub fn color(self, role: Role) -> Color {
        self.style(role).fg.unwrap_or(Color::Reset)
    }
}

/// The colour role that says a link's state.
pub fn link_role(view: LinkView) -> Role {
    match view {
        LinkView::Up => Role::Good,
        LinkView::Connecting => Role::Warn,
        LinkView::Cut => Role::Cut,
        LinkView::Broken => Role::Bad,
    }
}
