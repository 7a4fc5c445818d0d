//! Colours. Colour only ever repeats what a word or glyph already says, so
//! the screen reads the same under NO_COLOR.

use ratatui::style::{Color, Modifier, Style};

use crate::health::LinkView;

/// Colours, or none (NO_COLOR); for a dark terminal or a light one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Theme {
    pub color: bool,
    /// Darker colours that read on a light background (`--theme light`).
    pub light: bool,
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
        // Yellow and cyan vanish on white, and grey dims too far: the light
        // palette uses the 256-colour cube's darker shades instead.
        let color = match (role, self.light) {
            (Role::Good, false) => Color::Green,
            (Role::Good, true) => Color::Indexed(28),
            (Role::Warn, false) => Color::Yellow,
            (Role::Warn, true) => Color::Indexed(130),
            (Role::Bad, false) => Color::Red,
            (Role::Bad, true) => Color::Indexed(160),
            (Role::Cut, false) => Color::Magenta,
            (Role::Cut, true) => Color::Indexed(90),
            (Role::Dim, false) => Color::DarkGray,
            (Role::Dim, true) => Color::Indexed(243),
            (Role::Accent, false) => Color::Cyan,
            (Role::Accent, true) => Color::Indexed(25),
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
