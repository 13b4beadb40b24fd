//! Table columns that fit the width there is: each column wants a width,
//! can shrink to a minimum, and has a rank; what does not fit shrinks
//! first and is dropped last, lowest rank first — so at 80 columns a table
//! keeps what tells its rows apart.

/// One column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    /// The width it wants.
    pub want: u16,
    /// The narrowest it may get.
    pub min: u16,
    /// How much it matters: lower ranks shrink first and are dropped
    /// first; the highest rank of a table is never dropped.
    pub rank: u8,
}

/// A column of `want` cells that may shrink to `min`, ranked `rank`.
pub const fn col(want: u16, min: u16, rank: u8) -> Col {
    Col { want, min, rank }
}

/// The width of each column in `width` cells (ratatui's one-cell spacing
/// between columns counted), `None` for those dropped.
pub fn fit(cols: &[Col], width: u16) -> Vec<Option<u16>> {
    let mut w: Vec<Option<u16>> = cols.iter().map(|c| Some(c.want)).collect();
    let total = |w: &[Option<u16>]| -> u32 {
        let shown = u32::try_from(w.iter().flatten().count()).unwrap_or(u32::MAX);
        w.iter().flatten().map(|x| u32::from(*x)).sum::<u32>() + shown.saturating_sub(1)
    };
    let mut ranks: Vec<u8> = cols.iter().map(|c| c.rank).collect();
    ranks.sort_unstable();
    ranks.dedup();
    // Shrink, lowest rank first, then drop, lowest rank first.
    for r in &ranks {
        for (i, c) in cols.iter().enumerate() {
            let over = total(&w).saturating_sub(u32::from(width));
            if over == 0 {
                return w;
            }
            if c.rank == *r
                && let Some(cur) = w[i]
            {
                let give = u16::try_from(over)
                    .unwrap_or(u16::MAX)
                    .min(cur.saturating_sub(c.min));
                w[i] = Some(cur - give);
            }
        }
    }
    for r in ranks.iter().take(ranks.len().saturating_sub(1)) {
        for (i, c) in cols.iter().enumerate().rev() {
            if total(&w) <= u32::from(width) {
                return w;
            }
            if c.rank == *r {
                w[i] = None;
            }
        }
    }
    w
}

/// The cells of the columns kept.
pub fn keep<'a>(
    widths: &[Option<u16>],
    cells: Vec<ratatui::text::Span<'a>>,
) -> Vec<ratatui::text::Span<'a>> {
    cells
        .into_iter()
        .zip(widths)
        .filter(|(_, w)| w.is_some())
        .map(|(c, _)| c)
        .collect()
}

/// The constraints of the columns kept (the last one takes what is left).
pub fn constraints(widths: &[Option<u16>]) -> Vec<ratatui::layout::Constraint> {
    use ratatui::layout::Constraint;
    let kept: Vec<u16> = widths.iter().flatten().copied().collect();
    let n = kept.len();
    kept.into_iter()
        .enumerate()
        .map(|(i, w)| {
            if i + 1 == n {
                Constraint::Min(w)
            } else {
                Constraint::Length(w)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_shrink_then_drop_by_rank() {
        let cols = [col(20, 8, 9), col(10, 10, 1), col(12, 6, 2)];
        // 20 + 10 + 12 + 2 spaces = 44: fits.
        assert_eq!(fit(&cols, 44), vec![Some(20), Some(10), Some(12)]);
        // 40: the least important that can shrink gives first.
        assert_eq!(fit(&cols, 40), vec![Some(20), Some(10), Some(8)]);
        // 30: the rank-2 column at its minimum, the name shrunk.
        assert_eq!(fit(&cols, 30), vec![Some(12), Some(10), Some(6)]);
        // 20: the rank-1 column dropped, then rank 2.
        assert_eq!(fit(&cols, 20), vec![Some(8), None, Some(6)]);
    }
}
