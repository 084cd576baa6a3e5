//! The onboarding sheet of the seed ("Functional Design" step 1), saved as CSV: one row per user
//! with the columns `Sno, Username, SourceSystemName, Email, DestinationDirectory, GroupAdmin, IP,
//! IPv6, SSHKey 1, SSHKey 2, SSHKey 3, SSHKey 4`, and optionally `MigrationStatus`.
//!
//! Reading only checks the sheet's shape; what a row means is [`crate::secret_from_row`]'s and validation's
//! business. A row's Debug never shows its keys.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use warden_core::text::quoted;

/// The columns of the seed's sheet, as it spells them.
pub const SEED_COLUMNS: [&str; 12] = [
    "Sno",
    "Username",
    "SourceSystemName",
    "Email",
    "DestinationDirectory",
    "GroupAdmin",
    "IP",
    "IPv6",
    "SSHKey 1",
    "SSHKey 2",
    "SSHKey 3",
    "SSHKey 4",
];

/// The optional column that carries the tracker's status.
pub const STATUS_COLUMN: &str = "MigrationStatus";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Column {
    Sno,
    Username,
    SourceSystemName,
    Email,
    DestinationDirectory,
    GroupAdmin,
    Ip,
    Ipv6,
    SshKey(usize),
    MigrationStatus,
}

impl Column {
    /// Matches a header cell ignoring case, spaces, `_` and `-` (and Excel's byte-order mark).
    fn from_header(cell: &str) -> Option<Column> {
        let squashed: String = cell
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match squashed.as_str() {
            "sno" => Column::Sno,
            "username" => Column::Username,
            "sourcesystemname" => Column::SourceSystemName,
            "email" => Column::Email,
            "destinationdirectory" => Column::DestinationDirectory,
            "groupadmin" => Column::GroupAdmin,
            "ip" => Column::Ip,
            "ipv6" => Column::Ipv6,
            "sshkey1" => Column::SshKey(0),
            "sshkey2" => Column::SshKey(1),
            "sshkey3" => Column::SshKey(2),
            "sshkey4" => Column::SshKey(3),
            "migrationstatus" => Column::MigrationStatus,
            _ => return None,
        })
    }

    fn seed_columns() -> [Column; 12] {
        [
            Column::Sno,
            Column::Username,
            Column::SourceSystemName,
            Column::Email,
            Column::DestinationDirectory,
            Column::GroupAdmin,
            Column::Ip,
            Column::Ipv6,
            Column::SshKey(0),
            Column::SshKey(1),
            Column::SshKey(2),
            Column::SshKey(3),
        ]
    }

    fn name(self) -> &'static str {
        match self {
            Column::SshKey(i) => SEED_COLUMNS[8 + i],
            Column::MigrationStatus => STATUS_COLUMN,
            other => {
                let index = Column::seed_columns()
                    .iter()
                    .position(|c| *c == other)
                    .unwrap_or_default();
                SEED_COLUMNS[index]
            }
        }
    }
}

/// One user's row, cells trimmed. `row` is the line number a spreadsheet shows (header = 1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SheetRow {
    pub row: u64,
    pub sno: String,
    pub username: String,
    pub source_system_name: String,
    pub email: String,
    pub destination_directory: String,
    pub group_admin: String,
    pub ip: String,
    pub ipv6: String,
    /// `SSHKey 1` to `SSHKey 4`; empty cells are empty strings.
    pub ssh_keys: [String; 4],
    /// Empty when the column is absent or the cell blank.
    pub migration_status: String,
}

impl fmt::Debug for SheetRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SheetRow")
            .field("row", &self.row)
            .field("username", &self.username)
            .field(
                "ssh_keys",
                &self.ssh_keys.iter().filter(|k| !k.is_empty()).count(),
            )
            .finish_non_exhaustive()
    }
}

/// A row that is not imported, and why (one reason a line). Nothing is written for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub row: u64,
    pub sno: String,
    pub username: String,
    pub reasons: Vec<String>,
}

/// The rows of a sheet, and the rows whose shape is already wrong.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sheet {
    pub rows: Vec<SheetRow>,
    pub rejected: Vec<Rejection>,
    /// Whether the sheet has a `MigrationStatus` column.
    pub has_status_column: bool,
}

/// Why the file cannot be read as the sheet at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SheetError {
    #[error("the file is empty: expected a header row with the columns {}", SEED_COLUMNS.join(", "))]
    Empty,
    #[error("the file is not CSV (near line {line}): {message}")]
    NotCsv { line: u64, message: String },
    #[error("the header row (line {line}) is not UTF-8 text: save the sheet as \"CSV UTF-8\"")]
    HeaderNotUtf8 { line: u64 },
    #[error("the header row lacks the column(s) {}; expected {}", .0.join(", "), SEED_COLUMNS.join(", "))]
    MissingColumns(Vec<&'static str>),
    #[error("the header row has unknown column(s) {}; expected {} and optionally {STATUS_COLUMN}", .0.join(", "), SEED_COLUMNS.join(", "))]
    UnknownColumns(Vec<String>),
    #[error("the header row has the column {0} more than once")]
    DuplicateColumn(&'static str),
}

/// Reads the sheet. The first non-blank row is the header; its columns may come in any order.
/// Blank rows are skipped; a row with a different number of cells than the header, or bytes that
/// are not UTF-8, is rejected with its row number.
pub fn read_sheet(mut input: impl Read) -> Result<Sheet, SheetError> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| SheetError::NotCsv {
            line: 0,
            message: e.to_string(),
        })?;
    let lines = Lines::new(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut records = reader.byte_records();
    let (header_line, header) = loop {
        match records.next() {
            None => return Err(SheetError::Empty),
            Some(Err(e)) => return Err(lines.not_csv(&e)),
            Some(Ok(record)) if is_blank(&record) => continue,
            Some(Ok(record)) => break (lines.of(&record), record),
        }
    };
    let columns = header_columns(header_line, &header)?;
    let mut sheet = Sheet {
        has_status_column: columns.contains(&Some(Column::MigrationStatus)),
        ..Sheet::default()
    };
    for record in records {
        let record = record.map_err(|e| lines.not_csv(&e))?;
        if is_blank(&record) {
            continue;
        }
        match read_row(lines.of(&record), &columns, &record) {
            Ok(parsed) => sheet.rows.push(parsed),
            Err(rejection) => sheet.rejected.push(rejection),
        }
    }
    Ok(sheet)
}

/// Line numbers as a spreadsheet shows them. The csv crate's own line count is off after empty
/// lines (it reports where it started reading, blank lines included), so the line is worked out
/// from the record's byte offset: past any line breaks, then counting the ones before.
struct Lines<'a> {
    bytes: &'a [u8],
    newlines: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let newlines = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Lines { bytes, newlines }
    }

    fn at(&self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // A record never starts with a line break, so any here belong to skipped blank lines.
        while self
            .bytes
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        let before = self.newlines.partition_point(|&i| i < start);
        before as u64 + 1
    }

    fn of(&self, record: &csv::ByteRecord) -> u64 {
        record.position().map_or(0, |p| self.at(p.byte()))
    }

    fn not_csv(&self, error: &csv::Error) -> SheetError {
        SheetError::NotCsv {
            line: error.position().map_or(0, |p| self.at(p.byte())),
            message: error.to_string(),
        }
    }
}

/// The header's columns by position; `None` for a blank header cell (spreadsheets export empty
/// columns of their used range), under which every row must be blank too.
fn header_columns(line: u64, header: &csv::ByteRecord) -> Result<Vec<Option<Column>>, SheetError> {
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    for cell in header {
        let cell = std::str::from_utf8(cell).map_err(|_| SheetError::HeaderNotUtf8 { line })?;
        let cell = cell.trim_start_matches('\u{feff}').trim();
        if cell.is_empty() {
            columns.push(None);
            continue;
        }
        match Column::from_header(cell) {
            Some(column) if columns.contains(&Some(column)) => {
                return Err(SheetError::DuplicateColumn(column.name()));
            }
            Some(column) => columns.push(Some(column)),
            None => unknown.push(quoted(cell)),
        }
    }
    if !unknown.is_empty() {
        return Err(SheetError::UnknownColumns(unknown));
    }
    let missing: Vec<&'static str> = Column::seed_columns()
        .into_iter()
        .filter(|c| !columns.contains(&Some(*c)))
        .map(Column::name)
        .collect();
    if !missing.is_empty() {
        return Err(SheetError::MissingColumns(missing));
    }
    Ok(columns)
}

fn read_row(
    row: u64,
    columns: &[Option<Column>],
    record: &csv::ByteRecord,
) -> Result<SheetRow, Rejection> {
    let mut cells: BTreeMap<Column, String> = BTreeMap::new();
    let mut not_utf8 = Vec::new();
    let mut unnamed = false;
    for (column, cell) in columns.iter().zip(record.iter()) {
        match (column, std::str::from_utf8(cell)) {
            (None, _) => unnamed |= !is_blank_cell(cell),
            (Some(column), Ok(text)) => {
                cells.insert(*column, text.trim().to_owned());
            }
            (Some(column), Err(_)) => not_utf8.push(column.name()),
        }
    }
    let cell = |column: Column| cells.get(&column).cloned().unwrap_or_default();
    let mut reasons = Vec::new();
    if record.len() != columns.len() {
        reasons.push(format!(
            "the row has {} cells but the header has {}: a cell may hold an unquoted comma or line break",
            record.len(),
            columns.len()
        ));
    } else if unnamed {
        reasons.push("a cell under a column without a name has a value".to_owned());
    }
    if !not_utf8.is_empty() {
        reasons.push(format!(
            "{} not UTF-8 text: save the sheet as \"CSV UTF-8\"",
            match not_utf8.as_slice() {
                [one] => format!("the {one} cell is"),
                many => format!("the cells {} are", many.join(", ")),
            }
        ));
    }
    let parsed = SheetRow {
        row,
        sno: cell(Column::Sno),
        username: cell(Column::Username),
        source_system_name: cell(Column::SourceSystemName),
        email: cell(Column::Email),
        destination_directory: cell(Column::DestinationDirectory),
        group_admin: cell(Column::GroupAdmin),
        ip: cell(Column::Ip),
        ipv6: cell(Column::Ipv6),
        ssh_keys: [0, 1, 2, 3].map(|i| cell(Column::SshKey(i))),
        migration_status: cell(Column::MigrationStatus),
    };
    if reasons.is_empty() {
        Ok(parsed)
    } else {
        Err(Rejection {
            row,
            sno: parsed.sno,
            username: parsed.username,
            reasons,
        })
    }
}

fn is_blank_cell(cell: &[u8]) -> bool {
    cell.iter().all(u8::is_ascii_whitespace)
}

fn is_blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(is_blank_cell)
}

/// Writes rows in the seed's layout (for sheets made from existing secrets, and for tests).
pub fn write_sheet(rows: &[SheetRow], with_status: bool) -> String {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut header: Vec<&str> = SEED_COLUMNS.to_vec();
    if with_status {
        header.push(STATUS_COLUMN);
    }
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(&header);
    for row in rows {
        let mut record: Vec<&str> = vec![
            &row.sno,
            &row.username,
            &row.source_system_name,
            &row.email,
            &row.destination_directory,
            &row.group_admin,
            &row.ip,
            &row.ipv6,
        ];
        record.extend(row.ssh_keys.iter().map(String::as_str));
        if with_status {
            record.push(&row.migration_status);
        }
        let _ = writer.write_record(&record);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Sno,Username,SourceSystemName,Email,DestinationDirectory,GroupAdmin,IP,IPv6,SSHKey 1,SSHKey 2,SSHKey 3,SSHKey 4";

    fn read(text: &str) -> Result<Sheet, SheetError> {
        read_sheet(text.as_bytes())
    }

    #[test]
    fn a_row_of_the_seed_layout_is_read_with_its_line_number() {
        let sheet = read(&format!(
            "{HEADER}\n1, anz-bank ,ANZ Bank,ops@anz.example.com,/sftp-landing/payments/anz-bank,PaymentsAdmin,203.0.113.10/32,,ssh-ed25519 AAAA c,,,\n"
        ))
        .unwrap();
        assert_eq!(sheet.rejected, []);
        let row = &sheet.rows[0];
        assert_eq!(row.row, 2);
        assert_eq!(row.username, "anz-bank");
        assert_eq!(row.destination_directory, "/sftp-landing/payments/anz-bank");
        assert_eq!(row.ssh_keys[0], "ssh-ed25519 AAAA c");
        assert_eq!(row.ipv6, "");
        assert!(!sheet.has_status_column);
    }

    #[test]
    fn header_names_match_in_any_case_and_order_with_a_byte_order_mark() {
        let sheet = read(
            "\u{feff}USERNAME,sno,ipv6,ip,sshkey1,SSHKey_2,SSH Key 3,SSHKey-4,GroupAdmin,DestinationDirectory,Email,Source System Name,Migration Status\nbank1,7,,,k,,,,PaymentsAdmin,/b/p/bank1,a@b.example,Bank One,planned\n",
        )
        .unwrap();
        let row = &sheet.rows[0];
        assert_eq!(row.username, "bank1");
        assert_eq!(row.sno, "7");
        assert_eq!(row.source_system_name, "Bank One");
        assert_eq!(row.migration_status, "planned");
        assert!(sheet.has_status_column);
    }

    #[test]
    fn a_missing_or_unknown_column_refuses_the_whole_sheet() {
        let missing = read("Sno,Username\n1,a\n").unwrap_err();
        assert!(
            matches!(&missing, SheetError::MissingColumns(c) if c.contains(&"Email") && c.contains(&"SSHKey 4"))
        );
        let unknown = read(&format!("{HEADER},Notes\n")).unwrap_err();
        assert_eq!(
            unknown,
            SheetError::UnknownColumns(vec!["\"Notes\"".into()])
        );
        let twice = read(&format!("{HEADER},email\n")).unwrap_err();
        assert_eq!(twice, SheetError::DuplicateColumn("Email"));
        assert_eq!(read("\n\n").unwrap_err(), SheetError::Empty);
    }

    #[test]
    fn blank_rows_are_skipped_and_line_numbers_stay_those_of_the_file() {
        let sheet = read(&format!(
            "{HEADER}\n,,,,,,,,,,,\n\n1,a,A,a@x.example,/b/a,B-admin,,,k,,,\n"
        ))
        .unwrap();
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rows[0].row, 4);
    }

    #[test]
    fn empty_lines_and_windows_line_ends_keep_row_numbers_right() {
        let sheet = read(&format!(
            "{HEADER}\r\n\r\n\r\n1,a,A,a@x.example,/b/a,B-admin,,,k,,,\r\n2,b,B,b@x.example,/b/b,B-admin,,,k,,,\r\n"
        ))
        .unwrap();
        let rows: Vec<u64> = sheet.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [4, 5]);
    }

    #[test]
    fn a_multi_line_quoted_cell_keeps_the_next_rows_numbers_right() {
        let sheet = read(&format!(
            "{HEADER}\n1,a,\"Bank\nA\",a@x.example,/b/a,B-admin,,,k,,,\n2,b,B,b@x.example,/b/b,B-admin,,,k,,,\n"
        ))
        .unwrap();
        assert_eq!(sheet.rows[1].row, 4);
    }

    #[test]
    fn a_row_with_too_many_or_too_few_cells_is_rejected_with_its_row_number() {
        let sheet = read(&format!(
            "{HEADER}\n1,a,A,a@x.example,b@x.example,/b/a,B-admin,,,k,,,\n2,b,B\n3,c,C,c@x.example,/b/c,B-admin,,,k,,,\n"
        ))
        .unwrap();
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rows[0].username, "c");
        let rows: Vec<u64> = sheet.rejected.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 3]);
        assert!(sheet.rejected[0].reasons[0].contains("13 cells but the header has 12"));
        assert_eq!(sheet.rejected[1].username, "b");
    }

    #[test]
    fn empty_columns_a_spreadsheet_exports_are_padding_but_must_stay_empty() {
        let sheet = read(&format!(
            "{HEADER},,\n1,a,A,a@x.example,/b/a,B-admin,,,k,,,,,\n2,b,B,b@x.example,/b/b,B-admin,,,k,,,,note,\n"
        ))
        .unwrap();
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rows[0].username, "a");
        assert_eq!(sheet.rejected[0].row, 3);
        assert!(sheet.rejected[0].reasons[0].contains("without a name"));
    }

    #[test]
    fn a_cell_that_is_not_utf8_rejects_its_row_only() {
        let mut bytes = format!("{HEADER}\n1,a,").into_bytes();
        bytes.extend_from_slice(b"Caf\xe9");
        bytes.extend_from_slice(
            b",a@x.example,/b/a,B-admin,,,k,,,\n2,b,B,b@x.example,/b/b,B-admin,,,k,,,\n",
        );
        let sheet = read_sheet(bytes.as_slice()).unwrap();
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rejected[0].row, 2);
        assert!(sheet.rejected[0].reasons[0].contains("SourceSystemName cell is not UTF-8"));
    }

    #[test]
    fn debug_output_does_not_show_keys() {
        let row = SheetRow {
            ssh_keys: [
                "ssh-ed25519 AAAASECRET c".into(),
                String::new(),
                String::new(),
                String::new(),
            ],
            ..SheetRow::default()
        };
        assert!(!format!("{row:?}").contains("AAAASECRET"));
    }

    #[test]
    fn the_sample_sheet_holds_the_sample_users() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-events");
        let file = std::fs::File::open(root.join("sheets/sample-users.csv")).unwrap();
        let sheet = read_sheet(file).unwrap();
        assert_eq!(sheet.rejected, []);
        assert_eq!(sheet.rows.len(), 20);
        for row in &sheet.rows {
            let path = root.join(format!("users/{}.json", row.username));
            let user: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let text = |key: &str| user[key].as_str().unwrap_or_default().to_owned();
            let secret = warden_core::UserSecret::parse(&user.to_string()).unwrap();
            let target = &secret.home_directory_mappings().unwrap()[0].target;
            let keys: Vec<&str> = row
                .ssh_keys
                .iter()
                .map(String::as_str)
                .filter(|k| !k.is_empty())
                .collect();
            assert_eq!(row.source_system_name, text("Name"), "{}", row.username);
            assert_eq!(row.email, text("Email"), "{}", row.username);
            assert_eq!(&row.destination_directory, target, "{}", row.username);
            assert_eq!(row.group_admin, text("GroupAdmin"), "{}", row.username);
            assert_eq!(row.ip, text("IP"), "{}", row.username);
            assert_eq!(row.ipv6, text("IPv6"), "{}", row.username);
            assert_eq!(keys, secret.public_key_entries(), "{}", row.username);
        }
    }

    #[test]
    fn written_sheets_read_back_the_same() {
        let row = SheetRow {
            row: 2,
            sno: "1".into(),
            username: "a".into(),
            source_system_name: "Bank, \"A\"".into(),
            email: "a@x.example,b@x.example".into(),
            destination_directory: "/b/a".into(),
            group_admin: "B-admin".into(),
            ip: "192.0.2.1/32,192.0.2.2/32".into(),
            ipv6: String::new(),
            ssh_keys: ["k1".into(), "k2".into(), String::new(), String::new()],
            migration_status: "planned".into(),
        };
        let text = write_sheet(std::slice::from_ref(&row), true);
        assert_eq!(read(&text).unwrap().rows, [row]);
    }
}
