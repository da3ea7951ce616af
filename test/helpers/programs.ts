// Real programs to upload: compiled here, by the host's JDK, the way a team would hand kiln its binary.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A jar whose main prints `<greeting> <args…>` and the value of $KILN_TEST_ENV. */
export async function helloJar(greeting: string): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kiln-jar-'));
  try {
    await writeFile(
      path.join(dir, 'Hello.java'),
      `public class Hello { public static void main(String[] a) {
         System.out.println(${JSON.stringify(greeting)} + " " + String.join(" ", a) + " env=" + System.getenv("KILN_TEST_ENV"));
       } }\n`,
    );
    await run('javac', ['--release', '17', 'Hello.java'], { cwd: dir });
    await writeFile(path.join(dir, 'manifest.txt'), 'Main-Class: Hello\n');
    await run('jar', ['cfm', 'hello.jar', 'manifest.txt', 'Hello.class'], { cwd: dir });
    return await readFile(path.join(dir, 'hello.jar'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
