"""The style sheet of every page portflow writes: the reports and the index."""

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1140px;
       padding: 0 20px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
nav { font-size: 0.9rem; margin: 0.8rem 0 1.5rem; }
nav ul { list-style: none; padding: 0; margin: 0.2rem 0; display: flex; flex-wrap: wrap;
         gap: 0.3rem 1.2rem; }
div.table { max-width: 100%; overflow-x: auto; margin: 0.8rem 0 1.4rem; }
table { border-collapse: collapse; margin: 0.4rem 0 0.3rem; font-size: 0.82rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.4rem; text-align: right;
         vertical-align: top; }
th { font-weight: 600; min-width: 3.5em; vertical-align: bottom; }
td { white-space: nowrap; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; white-space: normal; min-width: 8em; }
th.text, td.text { text-align: left; white-space: normal; overflow-wrap: anywhere;
                   min-width: 12em; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption, .note { color: #555; font-size: 0.85rem; overflow-wrap: anywhere; }
section { border-top: 2px solid #eee; margin-top: 2rem; }
h3.tearsheet { border-top: 1px dashed #ccc; padding-top: 1rem; margin-top: 2rem; }
pre { max-width: 100%; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere;
      background: #f7f7f7; padding: 0.6rem; font-size: 0.8rem; }
code { overflow-wrap: anywhere; }
ul.plain { list-style: none; margin: 0; padding: 0; }
"""
