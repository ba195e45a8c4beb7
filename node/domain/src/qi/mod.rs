//! Quality-improvement cycles (phase 3 of the panel-management workbook): AIM statements,
//! their measures, and the run charts those measures are tracked on.

pub mod cycle;
pub mod runchart;
