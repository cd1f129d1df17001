//! Admin HTTP API (`[admin] listen`): health, metrics, status, bootstrap triggers.
