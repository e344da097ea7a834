/**
 * Rows with a missing group-by value: a job asks the stations for a missing-value cell for each
 * group-by column that some station holds with missing values (GetInfo's `complete`, common/
 * job.ts GroupBy.missing), so that the cells add up to the rows selected. A result shows that
 * cell as the level "(missing)" (R's table(useNA = "ifany"), decided per column of the dataset
 * rather than per filter: the stations release the cell, withheld or not, like any other, so the
 * released layout never depends on what the rows hold).
 *
 * The result classes then see an ordinary group-by whose last level is "(missing)", so none of
 * them needs to know about missing values.
 */
import { type GroupBy, levelLabels } from "../../common/job.js";

/** The group-by as results show it: levels with "(missing)" where the job has that cell. */
export function withMissingLevels(by: readonly GroupBy[]): GroupBy[] {
  return by.map((g) => ({ column: g.column, levels: levelLabels(g) }));
}
