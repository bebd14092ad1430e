/** The port of the test webhook receiver (test/node-support/receiver.ts), shared by Node and the tests in workerd. */
export const RECEIVER_PORT = 18_777;
