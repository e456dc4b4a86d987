/**
 * Debian's Chromium, as the browser tests launch it (playwright-core): headless, and quiet on the
 * network, so that any request a page makes is the page's own (the tests assert none leaves loopback).
 */
export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
