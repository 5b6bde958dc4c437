"""The customer insights report: one self-contained HTML page for people who do not use Dagster.

Every section reads what the platform already published (or computes a past figure with the
same domain code), renders one chart or table with one plain sentence, and says so in a
sentence instead when its input does not exist. Modules, by concern:

    sections    the `Section` a report is made of (rendered or missing) and its key figures
    formatting  numbers as a reader sees them: money, counts, percentages, changes
    charts      matplotlib figures as inline PNG data URIs
    page        HTML assembly (every text escaped; style inlined; no external reference)
    headline    customers, active, new, revenue, repeat rate against the previous period
    segments    RFM segments and their movement since a month earlier
    cohorts     the retention heatmap and acquisition value
    value       lifetime value distribution and top customers by predicted value (pseudonyms)
    churn       churn risk bands and their most common reasons
    service     NPS/CSAT trend with comment themes; support SLA trend
    campaigns   campaign results with uplift and intervals
    forecast    the sales forecast with its intervals
    report      all sections in order, and the dated and latest files
"""
