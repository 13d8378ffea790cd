/**
 * An SMTP client that speaks one command at a time and returns each reply: for probes that must
 * stop at an exact point of a session (after RCPT, to test for an open relay without ever sending
 * a message; in the middle of DATA, to test a drain). Sending libraries (nodemailer and the like)
 * run whole transactions and send the message once a recipient is accepted, which a relay probe
 * must never do. Every wait has a timeout.
 */
import type { X509Certificate } from "node:crypto";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface SmtpReply {
  /** The three-digit code of the last line. */
  code: string;
  lines: string[];
}

export class SmtpDialogue {
  private buffer = "";
  private waiting: ((reply: SmtpReply) => void) | undefined;
  private closed = false;
  greeting = "";

  /** Whether the server (or the network) ended the session: a reset counts. */
  get ended(): boolean {
    return this.closed;
  }

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.deliver();
    });
    socket.on("close", () => {
      this.closed = true;
      this.deliver();
    });
    socket.on("error", () => undefined);
  }

  /** Connects and reads the greeting. */
  static async open(address: string, port = 25, timeoutMs = 10_000): Promise<SmtpDialogue> {
    const socket = connect({ host: address, port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${address}:${port}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`${address}:${port}: ${e.message}`));
      });
    });
    const d = new SmtpDialogue(socket, timeoutMs);
    const g = await d.reply();
    d.greeting = g.lines[0] ?? "";
    if (g.code !== "220") {
      await d.close();
      throw new Error(`${address}:${port} greeted with ${g.lines.join(" | ") || "nothing"}`);
    }
    return d;
  }

  /** A complete reply: the last line has a space after its code (multi-line replies use a dash). */
  private deliver() {
    if (!this.waiting) return;
    const lines = this.buffer.split("\r\n");
    const end = lines.findIndex((l) => /^\d{3}( |$)/.test(l));
    if (end >= 0) {
      this.buffer = lines.slice(end + 1).join("\r\n");
      const reply = lines.slice(0, end + 1);
      const w = this.waiting;
      this.waiting = undefined;
      w({ code: reply[end].slice(0, 3), lines: reply });
    } else if (this.closed) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ code: "000", lines: ["(connection closed)"] });
    }
  }

  private reply(): Promise<SmtpReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no SMTP reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.deliver();
    });
  }

  /** Sends raw text, with no reply expected (message content). */
  write(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(text, (e) => (e ? reject(e) : resolve())));
  }

  /** Sends a command and returns its reply. */
  async command(line: string): Promise<SmtpReply> {
    await this.write(`${line}\r\n`);
    const r = await this.reply();
    if (r.code === "221" || r.code === "421" || r.code === "000") this.socket.end();
    return r;
  }

  /**
   * STARTTLS, then the TLS handshake with `servername` (SNI): the certificate the server presents,
   * whoever issued it (what a DANE-EE sender checks is the key, not the issuer). The session ends
   * after the handshake. Throws when the server refuses STARTTLS or the handshake fails.
   */
  async startTls(servername: string): Promise<X509Certificate> {
    const r = await this.command("STARTTLS");
    if (r.code !== "220") throw new Error(`STARTTLS refused: ${r.lines.join(" | ")}`);
    this.socket.removeAllListeners("data");
    const tls = tlsConnect({ socket: this.socket, servername, rejectUnauthorized: false });
    try {
      return await new Promise<X509Certificate>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TLS handshake within ${this.timeoutMs} ms`)), this.timeoutMs);
        tls.once("secureConnect", () => {
          clearTimeout(timer);
          const cert = tls.getPeerX509Certificate();
          if (cert) resolve(cert);
          else reject(new Error("the server presented no certificate"));
        });
        tls.once("error", (e) => {
          clearTimeout(timer);
          reject(new Error(`TLS handshake failed: ${e.message}`));
        });
      });
    } finally {
      this.closed = true;
      tls.destroy();
      this.socket.destroy();
    }
  }

  /** QUIT if still connected, then close. */
  async close(): Promise<void> {
    if (!this.closed) {
      await this.command("QUIT").catch(() => undefined);
      this.socket.destroy();
    }
  }
}
