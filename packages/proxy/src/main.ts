/** Entry point of the trellis-proxy executable. */
import { main } from './cli.ts';

void main(process.argv.slice(2));
