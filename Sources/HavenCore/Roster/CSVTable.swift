/// A problem in an imported file, located for a person to fix.
public struct ImportProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// The column's header name, or "" for a whole-line problem.
    public var column: String
    public var message: String

    public var description: String {
        column.isEmpty ? "\(file):\(line): \(message)" : "\(file):\(line): \(column): \(message)"
    }
}

/// A CSV file (RFC 4180: quoted fields, doubled quotes, line breaks inside
/// quotes, CRLF or LF, an optional UTF-8 BOM) read into a header and rows,
/// each row remembering the line it started on.
struct CSVTable {
    let file: String
    let header: [String]
    let rows: [(line: Int, fields: [String])]

    /// Parses `bytes`; syntax problems are appended to `problems`.
    static func parse(_ bytes: [UInt8], file: String, problems: inout [ImportProblem]) -> CSVTable? {
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var recordLine = 1
        var inQuotes = false
        var fieldWasQuoted = false

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        while index < bytes.count {
            let byte = bytes[index]
            // SQLite would store text cut at a NUL; no CSV a person exports has one.
            if byte == 0 {
                problems.append(ImportProblem(file: file, line: line, column: "", message: "a NUL character (a zero byte): is this a spreadsheet's own file format rather than CSV? Export it as CSV (UTF-8)"))
                return nil
            }
            if inQuotes {
                if byte == quote {
                    if index + 1 < bytes.count, bytes[index + 1] == quote {
                        field.append(quote)
                        index += 2
                        continue
                    }
                    inQuotes = false
                } else {
                    if byte == lf { line += 1 }
                    field.append(byte)
                }
                index += 1
                continue
            }
            switch byte {
            case quote:
                if field.isEmpty && !fieldWasQuoted {
                    inQuotes = true
                    fieldWasQuoted = true
                } else {
                    problems.append(ImportProblem(file: file, line: line, column: "", message: "a double quote inside an unquoted field; quote the whole field and double the quote"))
                    return nil
                }
            case comma:
                endField()
            case cr:
                if index + 1 < bytes.count, bytes[index + 1] == lf { index += 1 }
                endRecord()
                line += 1
                recordLine = line
            case lf:
                endRecord()
                line += 1
                recordLine = line
            default:
                if fieldWasQuoted {
                    problems.append(ImportProblem(file: file, line: line, column: "", message: "text after a closing quote; a quoted field must end at a comma or the end of the line"))
                    return nil
                }
                field.append(byte)
            }
            index += 1
        }
        if inQuotes {
            problems.append(ImportProblem(file: file, line: recordLine, column: "", message: "a quoted field is never closed"))
            return nil
        }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRecord() }
        guard let first = records.first else {
            problems.append(ImportProblem(file: file, line: 1, column: "", message: "the file is empty; it needs a header line"))
            return nil
        }
        let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        return CSVTable(file: file, header: header, rows: Array(records.dropFirst()))
    }

    /// Column positions by name; missing required columns are problems.
    func columns(required: [String], optional: [String], problems: inout [ImportProblem]) -> [String: Int]? {
        var positions: [String: Int] = [:]
        for (i, name) in header.enumerated() where positions[name] == nil { positions[name] = i }
        let missing = required.filter { positions[$0] == nil }
        for name in missing {
            problems.append(ImportProblem(file: file, line: 1, column: name, message: "required column is missing from the header"))
        }
        return missing.isEmpty ? positions : nil
    }
}

import Foundation
