/**
 * A jest reporter that ends the run with one plain line, `N passed, N failed, N skipped`, which CI reads (jest's
 * own summary is not a line CI understands). Suites that failed to run count their tests as failed, and a suite
 * that could not even load counts as one failure.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    let failed = results.numFailedTests;
    for (const suite of results.testResults) {
      if (suite.testExecError !== undefined && suite.testExecError !== null && suite.numFailingTests === 0) failed += 1;
    }
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
