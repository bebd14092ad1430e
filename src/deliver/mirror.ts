import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { subscriptions } from "../read/schema";
import { subscriptionsChanged } from "../read/wake-subscriptions";
import type { SettingsRow } from "./subscription-store";

/**
 * Keeps D1's `subscriptions` row (what the list shows and the projector wakes) in step with the
 * object's settings, which are the truth: written after each change, and again by the alarm while
 * `mirror_dirty` says a write failed. The built-in mail subscription has no row: the projector wakes
 * it by its id.
 */
export async function writeMirror(db: D1Database, settings: SettingsRow): Promise<void> {
  if (settings.kind !== "webhook" || settings.url === null) return;
  const row = {
    id: settings.id,
    url: settings.url,
    eventTypes: settings.event_types,
    description: settings.description,
    status: settings.status,
    createdAt: settings.created_at,
    updatedAt: settings.updated_at,
  };
  await drizzle(db)
    .insert(subscriptions)
    .values(row)
    .onConflictDoUpdate({
      target: subscriptions.id,
      set: { url: row.url, eventTypes: row.eventTypes, status: row.status, updatedAt: row.updatedAt },
    });
  subscriptionsChanged();
}

export async function deleteMirror(db: D1Database, id: string): Promise<void> {
  await drizzle(db).delete(subscriptions).where(eq(subscriptions.id, id));
  subscriptionsChanged();
}
