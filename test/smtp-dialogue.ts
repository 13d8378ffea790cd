/**
 * An SMTP client that speaks one command at a time and returns each reply, for tests that must
 * stop a session at an exact point (in the middle of a message, for instance). Run it from a lab
 * namespace.
 */
import { connect, type Socket } from "node:net";

export class SmtpDialogue {
  private buffer = "";
  private waiting: ((reply: string) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.deliver();
    });
    socket.on("close", () => {
      this.buffer += "(connection closed)\r\n";
      this.deliver();
    });
  }

  /** Connects and reads the greeting. */
  static async open(address: string, port = 25): Promise<SmtpDialogue> {
    const socket = connect({ host: address, port });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const d = new SmtpDialogue(socket);
    await d.reply();
    return d;
  }

  /** A complete reply: the last line has a space after its code (multi-line replies use a dash). */
  private deliver() {
    const lines = this.buffer.split("\r\n");
    const end = lines.findIndex((l) => /^\d{3} /.test(l) || l === "(connection closed)");
    if (end < 0 || !this.waiting) return;
    const reply = lines.slice(0, end + 1).join("\n");
    this.buffer = lines.slice(end + 1).join("\r\n");
    const w = this.waiting;
    this.waiting = undefined;
    w(reply);
  }

  private reply(): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = (r) => resolve(r.split("\n").at(-1)!);
      this.deliver();
    });
  }

  /** Sends raw text, with no reply expected (message content). */
  write(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(text, (e) => (e ? reject(e) : resolve())));
  }

  /** Sends a command and returns the last line of its reply. */
  async command(line: string): Promise<string> {
    await this.write(`${line}\r\n`);
    const r = await this.reply();
    if (/^(221|421)/.test(r) || r === "(connection closed)") this.socket.end();
    return r;
  }
}
