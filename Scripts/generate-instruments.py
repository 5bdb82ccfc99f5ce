#!/usr/bin/env python3
"""Writes the built-in instrument definitions (FHIR Questionnaire + Haven
scoring rules) into Plugins/Screening/Sources/BuiltinInstruments/.

    Scripts/generate-instruments.py

The output is committed; sources for every wording, score and cut-off are in
Docs/instruments.md. Edit here, regenerate, and review the diff.
"""
import json, os
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Plugins", "Screening", "Sources", "BuiltinInstruments")
LOINC = "http://loinc.org"
FREQ = [("LA6568-5","Not at all",0),("LA6569-3","Several days",1),("LA6570-1","More than half the days",2),("LA6571-9","Nearly every day",3)]
DIFF = [("LA6572-7","Not difficult at all"),("LA6573-5","Somewhat difficult"),("LA6575-0","Very difficult"),("LA6574-3","Extremely difficult")]
PFIZER = "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an educational grant from Pfizer Inc. No permission required to reproduce, translate, display or distribute."

def opt(code, display, score=None, system=LOINC):
    o = {"valueCoding": {"system": system, "code": code, "display": display}}
    if score is not None:
        o["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": score}]
    return o

def choice(link, text, options, loinc=None, required=True):
    i = {"linkId": link, "text": text, "type": "choice", "required": required, "answerOption": options}
    if loinc: i["code"] = [{"system": LOINC, "code": loinc}]
    return i

def freq_item(link, text, loinc=None):
    return choice(link, text, [opt(c,d,s) for c,d,s in FREQ], loinc)

def diff_item(link, text, loinc="69722-7"):
    return choice(link, text, [opt(c,d) for c,d in DIFF], loinc, required=False)

def yesno(link, text, enable=None):
    i = {"linkId": link, "text": text, "type": "boolean", "required": True}
    if enable: i.update(enable)
    return i

def write(id, q, scoring):
    doc = {"id": id, "questionnaire": q, "scoring": scoring}
    with open(os.path.join(out, id + ".json"), "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")

def questionnaire(id, title, version, items, code=None, copyright="", description=""):
    q = {"resourceType": "Questionnaire", "id": id, "url": f"https://haven.invalid/fhir/Questionnaire/{id}", "version": version,
         "name": id.replace("-", "_").upper(), "title": title, "status": "active", "subjectType": ["Patient"]}
    if code: q["code"] = [{"system": LOINC, "code": code}]
    if description: q["description"] = description
    if copyright: q["copyright"] = copyright
    q["item"] = items
    return q

PHQ9_ITEMS = [
 ("1","Little interest or pleasure in doing things?","44250-9"),
 ("2","Feeling down, depressed, or hopeless?","44255-8"),
 ("3","Trouble falling or staying asleep, or sleeping too much?","44259-0"),
 ("4","Feeling tired or having little energy?","44254-1"),
 ("5","Poor appetite or overeating?","44251-7"),
 ("6","Feeling bad about yourself — or that you are a failure or have let yourself or your family down?","44258-2"),
 ("7","Trouble concentrating on things, such as reading the newspaper or watching television?","44252-5"),
 ("8","Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or restless that you have been moving around a lot more than usual?","44253-3"),
 ("9","Thoughts that you would be better off dead, or of hurting yourself in some way?","44260-8"),
]
PHQ_BANDS = [{"name":"minimal","min":0,"max":4},{"name":"mild","min":5,"max":9},{"name":"moderate","min":10,"max":14},{"name":"moderately_severe","min":15,"max":19},{"name":"severe","min":20,"max":27}]
STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"

def phq_guidance(threshold):
    return {
     "minimal": "Minimal symptoms. No action needed beyond usual care; rescreen as scheduled.",
     "mild": "Mild symptoms. Watchful waiting; rescreen, and consider support if symptoms persist.",
     "moderate": "Moderate symptoms. Arrange a follow-up conversation and a support plan with the student.",
     "moderately_severe": "Moderately severe symptoms. Refer for a mental-health evaluation.",
     "severe": "Severe symptoms. Refer promptly for a mental-health evaluation and treatment.",
     "incomplete": "Incomplete: no total is reported. Ask the unanswered items, or note why they were not answered.",
     "suicide_risk": "A positive answer about suicide or self-harm: do not leave this to the total. Talk with the student today and follow your suicide-risk protocol (e.g. the ASQ and a safety assessment).",
    }

# PHQ-9
items = [{"linkId": "stem", "text": STEM, "type": "display"}] + [freq_item(l,t,c) for l,t,c in PHQ9_ITEMS] + \
        [diff_item("10", "If you checked off any problems, how difficult have these problems made it for you to do your work, take care of things at home, or get along with other people?")]
write("phq-9", questionnaire("phq-9", "Patient Health Questionnaire-9 (PHQ-9)", "1", items, "44249-1", PFIZER), {
 "itemOrder": [str(i) for i in range(1,11)],
 "total": {"sum": [str(i) for i in range(1,10)], "maxMissing": 0},
 "bands": PHQ_BANDS,
 "flags": [
   {"name": "suicide_risk", "when": {"item": "9", "gte": 1}},
   {"name": "positive_screen", "when": {"total": {"gte": 10}}},
 ],
 "guidance": phq_guidance(10),
 "licence": PFIZER + " Wording shipped (LOINC 44249-1 item texts).",
 "wordingShipped": True})

# PHQ-2
items = [{"linkId": "stem", "text": STEM, "type": "display"}] + [freq_item(l,t,c) for l,t,c in PHQ9_ITEMS[:2]]
write("phq-2", questionnaire("phq-2", "Patient Health Questionnaire-2 (PHQ-2)", "1", items, "55757-9", PFIZER), {
 "itemOrder": ["1","2"],
 "total": {"sum": ["1","2"], "maxMissing": 0},
 "bands": [{"name":"negative","min":0,"max":2},{"name":"positive","min":3,"max":6}],
 "flags": [{"name": "positive_screen", "when": {"total": {"gte": 3}}}],
 "guidance": {"negative": "Negative screen.", "positive": "Positive screen: follow with the full PHQ-9 or PHQ-A.",
              "incomplete": "Incomplete: ask the unanswered item."},
 "licence": PFIZER, "wordingShipped": True})

# PHQ-A: wording not shipped (licence unclear); structure and scoring only.
PHQA_LABELS = ["Depressed, irritable or hopeless mood", "Loss of interest or pleasure", "Sleep", "Appetite or weight", "Tiredness or low energy",
               "Feeling bad about oneself", "Concentration", "Slowed or restless", "Thoughts of being better off dead or of self-harm"]
items = [freq_item(str(i+1), "") for i in range(9)] + [
  {"linkId": "10", "text": "", "type": "boolean", "required": False},
  diff_item("11", "", None),
  {"linkId": "12", "text": "", "type": "boolean", "required": False},
  {"linkId": "13", "text": "", "type": "boolean", "required": False},
]
for i, label in enumerate(PHQA_LABELS):
    items[i]["prefix"] = str(i+1)
    items[i]["_havenTopic"] = label
for i in items: i.pop("_havenTopic", None)
write("phq-a", questionnaire("phq-a", "PHQ-9 Modified for Adolescents (PHQ-A)", "1", items, None,
  "PHQ-A (Johnson, Harris, Spitzer, Williams 2002). The form is distributed by NIMH and GLAD-PC ('Use with permission'); no explicit permission to redistribute its wording was found, so Haven ships its structure and scoring but not its item texts."), {
 "itemOrder": [str(i) for i in range(1,14)],
 "total": {"sum": [str(i) for i in range(1,10)], "maxMissing": 0},
 "bands": PHQ_BANDS,
 "flags": [
   {"name": "suicide_risk", "when": {"any": [{"item": "9", "gte": 1}, {"item": "12", "equals": "true"}, {"item": "13", "equals": "true"}]}},
   {"name": "positive_screen", "when": {"total": {"gte": 11}}},
 ],
 "guidance": phq_guidance(11) | {"suicide_risk": "A positive item 9, or a yes to serious thoughts of ending one's life in the past month or to a lifetime attempt, MUST be followed up by a clinical interview today, whatever the total (GLAD-PC)."},
 "licence": "PHQ-A (Johnson et al. 2002), distributed by NIMH and GLAD-PC. Wording not shipped: read the items from your licensed copy of the form.",
 "wordingShipped": False})

# GAD-7 and GAD-2
GAD = [("1","Feeling nervous, anxious, or on edge","69725-0"),("2","Not being able to stop or control worrying","68509-9"),
       ("3","Worrying too much about different things","69733-4"),("4","Trouble relaxing","69734-2"),
       ("5","Being so restless that it is hard to sit still","69735-9"),("6","Becoming easily annoyed or irritable","69689-8"),
       ("7","Feeling afraid, as if something awful might happen","69736-7")]
GSTEM = "Over the last 2 weeks, how often have you been bothered by the following problems?"
items = [{"linkId":"stem","text":GSTEM,"type":"display"}] + [freq_item(l,t,c) for l,t,c in GAD] + \
        [diff_item("8", "If you checked any problems, how difficult have they made it for you to do your work, take care of things at home, or get along with other people?")]
write("gad-7", questionnaire("gad-7", "Generalized Anxiety Disorder-7 (GAD-7)", "1", items, "69737-5", PFIZER), {
 "itemOrder": [str(i) for i in range(1,9)],
 "total": {"sum": [str(i) for i in range(1,8)], "maxMissing": 0},
 "bands": [{"name":"minimal","min":0,"max":4},{"name":"mild","min":5,"max":9},{"name":"moderate","min":10,"max":14},{"name":"severe","min":15,"max":21}],
 "flags": [{"name": "positive_screen", "when": {"total": {"gte": 10}}}],
 "guidance": {"minimal": "Minimal anxiety.", "mild": "Mild anxiety: monitor and rescreen.", "moderate": "Moderate anxiety: arrange follow-up and consider referral.",
              "severe": "Severe anxiety: refer for evaluation.", "incomplete": "Incomplete: no total is reported; ask the unanswered items."},
 "licence": PFIZER, "wordingShipped": True})
items = [{"linkId":"stem","text":GSTEM,"type":"display"}] + [freq_item(l,t,c) for l,t,c in GAD[:2]]
write("gad-2", questionnaire("gad-2", "Generalized Anxiety Disorder-2 (GAD-2)", "1", items, None, PFIZER), {
 "itemOrder": ["1","2"],
 "total": {"sum": ["1","2"], "maxMissing": 0},
 "bands": [{"name":"negative","min":0,"max":2},{"name":"positive","min":3,"max":6}],
 "flags": [{"name": "positive_screen", "when": {"total": {"gte": 3}}}],
 "guidance": {"negative": "Negative screen.", "positive": "Positive screen: follow with the full GAD-7.", "incomplete": "Incomplete: ask the unanswered item."},
 "licence": PFIZER, "wordingShipped": True})

# ASQ
POS = ["true", "refused"]
q5_enable = {"enableWhen": [{"question": q, "operator": "=", "answerBoolean": True} for q in "1234"], "enableBehavior": "any"}
items = [
 yesno("1", "In the past few weeks, have you wished you were dead?"),
 yesno("2", "In the past few weeks, have you felt that you or your family would be better off if you were dead?"),
 yesno("3", "In the past week, have you been having thoughts about killing yourself?"),
 yesno("4", "Have you ever tried to kill yourself?"),
 yesno("5", "Are you having thoughts of killing yourself right now?", q5_enable),
]
items[4]["required"] = False
acute = {"any": [{"item": "5", "equals": "true"},
                 {"all": [{"anyItem": ["1","2","3","4"], "in": POS}, {"item": "5", "in": ["", "refused"]}]}]}
write("asq", questionnaire("asq", "Ask Suicide-Screening Questions (ASQ)", "1", items, None,
  "NIMH Ask Suicide-Screening Questions (ASQ) Toolkit. NIMH written material is in the public domain and may be reproduced without permission; citation of the source is appreciated."), {
 "itemOrder": ["1","2","3","4","5"],
 "requiredItems": ["1","2","3","4"],
 "refusalItems": ["1","2","3","4","5"],
 "bands": [
   {"name": "acute_positive", "when": acute},
   {"name": "non_acute_positive", "when": {"anyItem": ["1","2","3","4"], "in": POS}},
   {"name": "incomplete", "when": {"flag": "incomplete"}},
   {"name": "negative"},
 ],
 "flags": [
   {"name": "suicide_risk", "when": {"anyItem": ["1","2","3","4","5"], "in": POS}},
   {"name": "acute_suicide_risk", "when": acute},
   {"name": "positive_screen", "when": {"anyItem": ["1","2","3","4","5"], "in": POS}},
 ],
 "guidance": {
   "negative": "Negative screen: no intervention is necessary (clinical judgement can always override a negative screen).",
   "non_acute_positive": "Non-acute positive screen (potential risk identified): the student needs a brief suicide safety assessment today to decide whether a full mental-health evaluation is needed. The student cannot leave until evaluated for safety. Alert the counselor or clinician responsible.",
   "acute_positive": "ACUTE POSITIVE SCREEN (imminent risk identified): the student must not be left alone — keep them in sight and remove anything dangerous. They need a STAT safety and full mental-health evaluation the same day and cannot leave until evaluated. Alert the designated lead and the clinician responsible now.",
   "incomplete": "Incomplete: questions 1 to 4 must all be asked. A refusal counts as a positive answer.",
 },
 "licence": "NIMH, public domain. Haven's guidance text summarises the NIMH ASQ pathway; follow your school's protocol and the current NIMH toolkit.",
 "wordingShipped": True})

# PSC-17 (published order)
PSC = [("Fidgety, unable to sit still","A"),("Feels sad, unhappy","I"),("Daydreams too much","A"),("Refuses to share","E"),
       ("Does not understand other people's feelings","E"),("Feels hopeless","I"),("Has trouble concentrating","A"),
       ("Fights with other children","E"),("Is down on him or herself","I"),("Blames others for his or her troubles","E"),
       ("Seems to be having less fun","I"),("Does not listen to rules","E"),("Acts as if driven by a motor","A"),
       ("Teases others","E"),("Worries a lot","I"),("Takes things that do not belong to him or her","E"),("Distracted easily","A")]
PSC_OPTS = [("never","Never",0),("sometimes","Sometimes",1),("often","Often",2)]
PSC_SYS = "https://haven.invalid/fhir/CodeSystem/psc-frequency"
items = [{"linkId":"stem","text":"Please mark under the heading that best fits your child.","type":"display"}] + \
        [choice(str(i+1), t, [opt(c,d,s,PSC_SYS) for c,d,s in PSC_OPTS], required=False) for i,(t,_) in enumerate(PSC)]
sub = lambda k: [str(i+1) for i,(_,s) in enumerate(PSC) if s == k]
write("psc-17", questionnaire("psc-17", "Pediatric Symptom Checklist-17 (PSC-17)", "1", items, None,
  "© 1998 M. Jellinek and J.M. Murphy, Massachusetts General Hospital. The PSC-17 may be freely reproduced."), {
 "itemOrder": [str(i) for i in range(1,18)],
 "total": {"sum": [str(i) for i in range(1,18)], "maxMissing": 3},
 "subscalesNeedTotal": True,
 "subscales": [
   {"name": "internalizing", "sum": sub("I"), "maxMissing": 3},
   {"name": "attention", "sum": sub("A"), "maxMissing": 3},
   {"name": "externalizing", "sum": sub("E"), "maxMissing": 3},
 ],
 "requiredItems": [],
 "incompleteBand": "invalid",
 "bands": [{"name": "positive", "when": {"flag": "positive_screen"}}, {"name": "negative"}],
 "flags": [
   {"name": "internalizing_positive", "when": {"subscale": "internalizing", "gte": 5}},
   {"name": "attention_positive", "when": {"subscale": "attention", "gte": 7}},
   {"name": "externalizing_positive", "when": {"subscale": "externalizing", "gte": 7}},
   {"name": "positive_screen", "when": {"any": [{"total": {"gte": 15}}, {"flag": "internalizing_positive"}, {"flag": "attention_positive"}, {"flag": "externalizing_positive"}]}},
 ],
 "guidance": {"negative": "Negative screen.", "positive": "Positive screen: discuss with the family and consider a referral for a mental-health assessment.",
              "invalid": "Invalid: four or more items were left blank (PSC scoring instructions); no score is reported."},
 "licence": "© 1998 M. Jellinek & J.M. Murphy, MGH: 'The PSC-17 may be freely reproduced.'",
 "wordingShipped": True})
print(sorted(os.listdir(out)))
