//! Quality-improvement cycles in the browser (workbook phase 3): AIM statements, their
//! measures and the run charts they are tracked on.

pub(crate) mod chart;
