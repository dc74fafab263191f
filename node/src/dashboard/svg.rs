//! Charts as small server-rendered SVG: horizontal bars with the number printed beside
//! each bar (the number is the information; the bar only helps the eye), and a
//! progress bar against a target. No scripts, no fonts to download.

use maud::{html, Markup};

/// Horizontal bar chart of `(label, value)`; the value is printed after each bar.
pub fn bars(items: &[(String, i64)]) -> Markup {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 22;
    let height = row * items.len().max(1) + 4;
    html! {
        svg class="chart" role="img" width="420" height=(height) viewBox={ "0 0 420 " (height) } {
            @for (i, (label, value)) in items.iter().enumerate() {
                @let y = i * row + 2;
                @let w = (*value as f64 / max as f64 * 220.0).round() as i64;
                text x="0" y=(y + 13) font-size="13" { (label) }
                rect x="130" y=(y) width=(w) height="16" fill="#c0392b" {}
                text x=(136 + w) y=(y + 13) font-size="13" { (value) }
            }
        }
    }
}

/// A progress bar: `value` of `target`, with both numbers and the percentage.
pub fn progress(value: f64, target: f64, text: &str) -> Markup {
    let ratio = if target > 0.0 {
        (value / target).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let w = (ratio * 300.0).round();
    let color = if ratio >= 1.0 { "#27ae60" } else { "#e67e22" };
    html! {
        div {
            svg class="chart" role="img" width="300" height="20" viewBox="0 0 300 20" {
                rect x="0" y="2" width="300" height="16" fill="#eee" {}
                rect x="0" y="2" width=(w) height="16" fill=(color) {}
            }
            " "
            span { (text) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_beside_the_bars() {
        let svg = bars(&[("贫困".into(), 12), ("脱贫<".into(), 3)]).into_string();
        assert!(svg.contains(">12</text>"));
        assert!(svg.contains("脱贫&lt;"));
    }
}
