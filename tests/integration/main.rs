//! End-to-end tests of apns-lab over real TLS and HTTP/2: one test binary, with a shared
//! support module, as ripgrep's suite is laid out.

mod activities;
mod admin;
mod app_logic;
mod auth;
mod book;
mod book_reference;
mod certificates;
mod channels;
mod cli;
mod client;
mod client_faults;
mod clock;
mod connection;
mod dashboard;
mod dashboard_web;
mod demo_page;
mod devices;
mod exec;
mod faults;
mod interop;
mod layout;
mod lessons;
mod lifecycle;
mod memory;
mod page;
mod provider_server;
mod release;
mod serve;
mod shapes;
mod support;
mod validation;
mod webpush;
mod webpush_delivery;
