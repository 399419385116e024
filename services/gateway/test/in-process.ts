import type { AddressInfo } from "node:net";
import type { Gateway } from "../src/app";

/** A gateway built in this test process, listening on a free loopback port; `close` stops both. */
export async function listen(gateway: Gateway): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = gateway.app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      gateway.close();
    },
  };
}
