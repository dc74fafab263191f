//! A table as every page shows it, and the same table as CSV (UTF-8 with a byte-order
//! mark, so Excel and WPS show the Chinese) or as an XLSX workbook. Pages build
//! [`Table`]s; `?format=csv|xlsx&table=N` on the same URL downloads table N.

use maud::{html, Markup};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::exchange::export::neutralise_cell;

/// One cell: text, a number, or text linking somewhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Plain text.
    Text(String),
    /// A number (right-aligned; a number in spreadsheets).
    Num(f64),
    /// Text linking to a URL on the page (plain text in exports).
    Link(String, String),
}

impl Cell {
    /// The text of the cell.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(t) | Cell::Link(t, _) => t.clone(),
            Cell::Num(n) => num_text(*n),
        }
    }
}

impl Cell {
    /// The text of the cell in a download: text that a spreadsheet would read as a
    /// formula gets a leading `'` (see [`crate::exchange::export::FORMULA_STARTS`]);
    /// numbers stay numbers.
    pub fn export_text(&self) -> String {
        match self {
            Cell::Num(n) => num_text(*n),
            Cell::Text(t) | Cell::Link(t, _) => neutralise_cell(t).into_owned(),
        }
    }
}

fn num_text(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n:.2}")
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Num(n as f64)
    }
}

/// A titled table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Title (also the file and sheet name of exports).
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<Cell>>,
    /// CSS class per row (e.g. `stale`), empty for none.
    pub row_class: Vec<String>,
}

impl Table {
    /// An empty table with a title and headers.
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Table {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Table::default()
        }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
        self.row_class.push(String::new());
    }

    /// Adds a row with a CSS class.
    pub fn push_class(&mut self, row: Vec<Cell>, class: &str) {
        self.rows.push(row);
        self.row_class.push(class.to_string());
    }

    /// The table as HTML, with download links for CSV and XLSX (`export_base` is the
    /// page URL with its query, ending in `?` or `&`).
    pub fn html(&self, export_base: Option<&str>, number: usize) -> Markup {
        html! {
            div.tbl {
                @if let Some(base) = export_base {
                    p.exp {
                        a href={ (base) "format=csv&table=" (number) } { "CSV" }
                        " · "
                        a href={ (base) "format=xlsx&table=" (number) } { "XLSX" }
                    }
                }
                table {
                    thead { tr { @for h in &self.headers { th { (h) } } } }
                    tbody {
                        @for (row, class) in self.rows.iter().zip(&self.row_class) {
                            tr class=[(!class.is_empty()).then_some(class)] {
                                @for cell in row {
                                    @match cell {
                                        Cell::Text(t) => td { (t) },
                                        Cell::Num(n) => td.n { (num_text(*n)) },
                                        Cell::Link(t, href) => td { a href=(href) { (t) } },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The table as CSV bytes, UTF-8 with a byte-order mark.
    pub fn csv(&self) -> Vec<u8> {
        let mut buf = "\u{feff}".as_bytes().to_vec();
        {
            let mut w = csv::Writer::from_writer(&mut buf);
            let _ = w.write_record(&self.headers);
            for row in &self.rows {
                let _ = w.write_record(row.iter().map(Cell::export_text));
            }
            let _ = w.flush();
        }
        buf
    }

    /// The table as an XLSX workbook (numbers as numbers).
    pub fn xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        let name: String = self
            .title
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        if !name.is_empty() {
            sheet.set_name(&name)?;
        }
        let bold = Format::new().set_bold();
        for (c, h) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
            sheet.set_column_width(c as u16, 14)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let r = (r + 1) as u32;
            for (c, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Num(n) => sheet.write_number(r, c as u16, *n)?,
                    // An empty cell stays blank (no text in a number column).
                    Cell::Text(t) if t.is_empty() => continue,
                    other => sheet.write_string(r, c as u16, other.export_text())?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        workbook.save_to_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_neutralise_formulas_but_keep_numbers() {
        let mut t = Table::new("妇女", &["姓名", "人数"]);
        t.push(vec!["=cmd|' /C calc'!A0".into(), Cell::Num(-5.0)]);
        t.push(vec![Cell::Link("@SUM(A1)".into(), "/x".into()), 3.into()]);
        let csv = String::from_utf8(t.csv()).unwrap();
        assert!(csv.contains("'=cmd|' /C calc'!A0,-5"), "{csv}");
        assert!(csv.contains("'@SUM(A1),3"), "{csv}");
    }

    #[test]
    fn csv_has_bom_and_xlsx_is_a_zip() {
        let mut t = Table::new("妇女", &["姓名", "人数"]);
        t.push(vec!["王秀英".into(), 3.into()]);
        let csv = t.csv();
        assert!(csv.starts_with("\u{feff}".as_bytes()));
        assert!(String::from_utf8(csv).unwrap().contains("王秀英,3"));
        assert!(t.xlsx().unwrap().starts_with(b"PK"));
    }
}
