"""What people open: the queries over the reporting layer (`<schema>_reporting`), the labels in Chinese and
English, the charts, and the monthly department reports rendered from them. The dashboard (`dashboard/`)
imports these, so a number means the same on a page and in a report."""
