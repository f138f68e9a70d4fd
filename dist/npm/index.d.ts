// Types for apns-lab's Node helper.

/** The ready line `apns-lab serve` prints. */
export interface Ready {
  event: "ready";
  /** https://host:port of the sandbox provider API. */
  sandbox: string;
  production: string;
  /** http://host:port of the admin API. */
  admin: string;
  /** https://host:port where simulated phones connect. */
  gateway: string;
  channels_sandbox: string;
  channels_production: string;
  /** The CA certificate to trust (a file path). */
  ca_file: string;
  team_id: string;
  key_id: string;
  /** The default signing key's .p8 (a file path). */
  key_file: string;
  data_dir?: string | null;
  pid?: number | null;
  token_scope: "per-app" | "per-device";
}

/** @parse/node-apn's Provider options for this mock. */
export interface ProviderOptions {
  token: { key: string; keyId: string; teamId: string };
  production: boolean;
  address: string;
  port: number;
  ca: string;
}

export interface App {
  bundle_id: string;
  environment?: "sandbox" | "production";
}

export interface DeviceView {
  udid: string;
  apps: Array<{ bundle_id: string; environment: string; token: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

export type FaultAction =
  | { kind: "reason"; reason: string }
  | { kind: "unregistered"; timestamp?: number }
  | { kind: "delay"; ms: number }
  | { kind: "stall" } | { kind: "reset" } | { kind: "close" }
  | { kind: "goaway"; reason: string }
  | { kind: "max_streams"; value: number };

export interface FaultMatch {
  token?: string; topic?: string; push_type?: string; environment?: "sandbox" | "production";
  after?: number; count?: number; probability?: number;
}

export interface ConsoleAnswer {
  status: number; apns_id: string; apns_unique_id?: string | null; reason?: string | null;
  timestamp?: number | null; curl: string;
}

export interface ApnsLab {
  ready: Ready;
  providerOptions: ProviderOptions;
  /** One admin API call: the answer's JSON (null when empty); throws ApnsLabError otherwise. */
  admin(method: string, path: string, body?: unknown): Promise<any>;
  /** Stops a mock this helper started, and removes the files it made. */
  stop(): Promise<void>;
  reset(): Promise<unknown>;
  health(): Promise<{ status: "ok"; devices: number; tokens: number; token_scope: string }>;
  /** Apps are "com.example.chat", "com.example.chat:production" or App objects. */
  createDevice(apps: Array<string | App>, udid?: string): Promise<DeviceView>;
  device(udid: string): Promise<DeviceView>;
  lifecycle(udid: string, event: "erase" | "backup" | "restore" | "offline" | "online", body?: { to_udid?: string }): Promise<unknown>;
  appLifecycle(udid: string, bundleId: string, event: "update" | "uninstall" | "reinstall"): Promise<unknown>;
  notifications(filter?: { token?: string; topic?: string; apns_id?: string; limit?: number }): Promise<any[]>;
  fault(action: string | FaultAction, match?: FaultMatch): Promise<{ id: number; [k: string]: unknown }>;
  clearFaults(): Promise<unknown>;
  advanceClock(seconds: number): Promise<{ now_ms: number; offset_ms: number }>;
  resetClock(): Promise<{ now_ms: number; offset_ms: number }>;
  /** A push through the provider API's checks from the mock's console, signed with the default key. */
  push(token: string, payload: unknown, options?: { topic?: string; push_type?: string; environment?: string; priority?: string; collapse_id?: string; expiration?: string; apns_id?: string }): Promise<ConsoleAnswer>;
}

export declare class ApnsLabError extends Error {
  status: number;
}

/** Starts `apns-lab serve` on free loopback ports with a fresh data dir. */
export declare function startApnsLab(serveArgs?: string[]): Promise<ApnsLab>;
/** A mock running elsewhere (a container, a CI service), by its admin API's URL. */
export declare function connectApnsLab(adminUrl: string, options?: { adminToken?: string; host?: string; ports?: Record<number, number> }): Promise<ApnsLab>;
/** The apns-lab executable this package runs. */
export declare function binary(): string;
