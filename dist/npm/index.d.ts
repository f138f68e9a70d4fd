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
  /** https://host:port of the Web Push endpoint (Apple's web.push.apple.com). */
  webpush: string;
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

/** One answered request in the capture log. `headers` are [name, value] pairs in the
 * order sent (a name may come twice; authorization is never kept). */
export interface CaptureRecord {
  time_ms: number; environment: "sandbox" | "production"; connection: number;
  apns_id: string; apns_unique_id?: string; method: string; path: string;
  token?: string; topic?: string; headers: Array<[string, string]>;
  auth: { kind: string; [k: string]: unknown }; payload?: unknown; payload_size: number;
  status: number; reason?: string; timestamp?: number; fault?: string;
}

/** One step of a notification's way to the device. */
export interface JourneyStep { state: string; time_ms: number; detail?: string }

/** A lifecycle event, with each token it changed. */
export interface LifecycleEvent {
  seq: number; time_ms: number; udid: string; kind: string; bundle_id?: string; to_udid?: string;
  tokens: Array<{ bundle_id: string; environment: string; old?: string; new?: string; changed: boolean }>;
  [k: string]: unknown;
}

/** A simulated iPhone running `apns-lab device run` in a child process. */
export interface Phone {
  udid: string;
  /** What it printed, line by line (tokens shortened: token() has them whole). */
  lines: string[];
  /** The first line it printed that matches `pattern`. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Its app's device token (hex, whole), once registered. */
  token(bundleId: string, timeoutMs?: number): Promise<string>;
  /** Its web app's Web Push subscription, once the web app has subscribed. */
  subscription(origin: string, timeoutMs?: number): Promise<WebSubscription>;
  /**
   * Runs `callback` when iOS would call the app with `event` (its answer, awaited, is the
   * app's; undefined leaves the event to the built-in app); `app` limits it to one bundle
   * ID or web origin.
   */
  on(event: AppEventName, callback: (event: AppEvent) => unknown, app?: string): Phone;
  /** What the callbacks threw (each answered the phone as the app's failure). */
  errors: unknown[];
  stop(): Promise<void>;
}

/** The events a phone's app gets, named as iOS names them. */
export type AppEventName =
  | "didReceive"
  | "serviceExtensionTimeWillExpire"
  | "didReceiveRemoteNotification"
  | "willPresent"
  | "didReceiveIncomingPushWith"
  | "didRegisterForRemoteNotifications"
  | "pushToStartTokenUpdates"
  | "pushTokenUpdates"
  | "didReceiveResponse"
  | "push";

/** One event as the app's callback gets it. */
export interface AppEvent {
  event: AppEventName;
  id: number;
  udid: string;
  /** The app (absent for a web app's `push`). */
  bundleId?: string;
  /** A web app's origin (`push`). */
  origin?: string;
  apnsId?: string;
  pushType?: string;
  topic?: string;
  /** The push as the provider sent it. */
  payload?: any;
  /** A web push's decrypted text (`push`). */
  data?: string;
  /** The new device token (`didRegisterForRemoteNotifications`). */
  deviceToken?: string;
  /** A Live Activity token (`pushToStartTokenUpdates`, `pushTokenUpdates`). */
  token?: string;
  [key: string]: unknown;
}

/** `PushSubscription.toJSON()`, as a web app hands it to its server, plus the web app. */
export interface WebSubscription {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
  origin: string;
  name: string;
  state: "active" | "ended";
  /** What ended it. */
  ended_by?: "removed" | "revoked" | "erased";
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
  devices(): Promise<DeviceView[]>;
  lifecycle(udid: string, event: "erase" | "backup" | "restore" | "offline" | "online", body?: { to_udid?: string }): Promise<{ event: LifecycleEvent; device: DeviceView }>;
  appLifecycle(udid: string, bundleId: string, event: "update" | "uninstall" | "reinstall"): Promise<{ event: LifecycleEvent; device: DeviceView }>;
  /** Lifecycle events, newest first. */
  events(filter?: { udid?: string; limit?: number }): Promise<LifecycleEvent[]>;
  /** Answered requests, newest first. */
  notifications(filter?: { token?: string; topic?: string; apns_id?: string; limit?: number }): Promise<CaptureRecord[]>;
  /** The same record as an item of notifications(), plus its journey. */
  notification(apnsId: string): Promise<CaptureRecord & { journey: JourneyStep[] }>;
  fault(action: string | FaultAction, match?: FaultMatch): Promise<{ id: number; [k: string]: unknown }>;
  /** The rules, with how often each matched and fired. */
  faults(): Promise<Array<FaultMatch & { id: number; action: FaultAction; matched: number; fired: number }>>;
  clearFaults(): Promise<unknown>;
  clock(): Promise<{ now_ms: number; offset_ms: number }>;
  advanceClock(seconds: number): Promise<{ now_ms: number; offset_ms: number }>;
  resetClock(): Promise<{ now_ms: number; offset_ms: number }>;
  /** A push through the provider API's checks from the mock's console, signed with the default key. */
  push(token: string, payload: unknown, options?: { topic?: string; push_type?: string; environment?: string; priority?: string; collapse_id?: string; expiration?: string; apns_id?: string }): Promise<ConsoleAnswer>;
  /** A payload injected straight into a running phone, as `xcrun simctl push` does. */
  localPush(udid: string, payload: object, bundleId?: string): Promise<{ apns_id: string }>;
  /** Adds a web app to a phone's Home Screen and subscribes it with the server's VAPID public key (base64url). */
  webApp(udid: string, origin: string, applicationServerKey: string, options?: { name?: string }): Promise<WebSubscription>;
  /** The user responds to a notification a running phone shows: "tap", "dismiss", or an action of its category. */
  respond(udid: string, apnsId: string, action?: string): Promise<{ udid: string; apns_id: string; action: string }>;
  /** A phone's Web Push subscriptions, oldest first. */
  webApps(udid: string): Promise<WebSubscription[]>;
  /** Removes a web app: its subscription ends (410 from then on). */
  removeWebApp(udid: string, origin: string): Promise<WebSubscription[]>;
  /** Turns a web app's notifications off, as in Settings: its subscription ends (410); it may subscribe again. */
  revokeWebApp(udid: string, origin: string): Promise<WebSubscription[]>;
  /** Runs a simulated iPhone against this mock; `webApps` subscribe with `vapidKey` (base64url, or a PEM file). */
  phone(
    apps: Array<string | App>,
    options?: { udid?: string; webApps?: string[]; vapidKey?: string; args?: string[]; handlers?: boolean },
  ): Phone;
}

export declare class ApnsLabError extends Error {
  status: number;
}

/** A fresh mock: exec's (reset) under `apns-lab exec` with no serveArgs, else
 * `apns-lab serve` on free loopback ports with a fresh data dir. */
export declare function startApnsLab(serveArgs?: string[], options?: { start?: boolean }): Promise<ApnsLab>;
/** A mock running elsewhere (a container, a CI service), by its admin API's URL. */
export declare function connectApnsLab(adminUrl: string, options?: { adminToken?: string; host?: string; ports?: Record<number, number> }): Promise<ApnsLab>;
/** The apns-lab executable this package runs. */
export declare function binary(): string;
