"""Reading a campaign's recipients from a file for `mobivate-hooks send-batch`.

A CSV file (UTF-8, any dialect the csv module can sniff; a plain list of numbers, one a line, is
one too) whose numbers are in the column headed `to`, `number`, `msisdn`, `mobile` or `phone`
(any case), else in the first column. A first line without a digit in that column is taken as
the header. Blank lines are ignored; a row without a number is reported by its line and left
out. The numbers are checked by the batch like any other (`invalid` rows are reported with
their line too).
"""

import csv
import io
from dataclasses import dataclass, field

NUMBER_COLUMNS = ("to", "number", "msisdn", "mobile", "phone")


@dataclass(slots=True)
class NumberFile:
    numbers: list[str] = field(default_factory=list)
    # The file's line of each number, in order.
    lines: list[int] = field(default_factory=list)
    # (line, what is wrong) for rows left out.
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


class UnreadableFile(ValueError):
    pass


def read_numbers(content: bytes) -> NumberFile:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"is not UTF-8 text (byte {exc.start})") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    result = NumberFile()
    column = 0
    rows = [(line, row) for line, row in rows if any(cell.strip() for cell in row)]
    if rows and not any(char.isdigit() for char in _cell(rows[0][1], 0)):
        header = [cell.strip().lower() for cell in rows[0][1]]
        column = next((header.index(name) for name in NUMBER_COLUMNS if name in header), 0)
        rows = rows[1:]
    for line, row in rows:
        value = _cell(row, column).strip()
        if not value:
            result.bad_rows.append((line, f"no number in column {column + 1}"))
            continue
        result.numbers.append(value)
        result.lines.append(line)
    if not result.numbers and not result.bad_rows:
        raise UnreadableFile("holds no number")
    return result


def _cell(row: list[str], column: int) -> str:
    return row[column] if column < len(row) else ""
