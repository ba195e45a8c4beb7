//! Router tests of the panel pages: the panel list, patient entries, uploads and
//! downloads, preferences and dashboards.
