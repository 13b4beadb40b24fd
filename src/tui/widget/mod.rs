//! Small reusable widgets: tab line, status line, hint bar, popups.

pub mod hints;
pub mod popup;
pub mod status;
pub mod tabs;
