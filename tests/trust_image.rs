//! Layouts, layers and archives on an unlucky machine: full disks, killed
//! runs, corrupted or symlinked blobs (issue 11).
