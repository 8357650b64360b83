"""Hand-built word lists for local pattern and tension detection.

Everything here is plain data, shipped with the package: no downloads, no model.
Each category maps to a whitespace-separated string of lowercase words (inflections
spelled out). Conventions inside a string:

* ``word``      a clear cue, weight 1.0;
* ``~word``     an ambiguous cue (``down``, ``blue``, ``light``), weight 0.5;
* ``two_words`` a two-word phrase (``let_go`` matches "let go"); phrases have exactly
  two words.

Names are everyday observations (emotion "sadness", theme "work"), never clinical
labels: mirror describes what the words say, it does not diagnose.
"""

from __future__ import annotations

EMOTIONS: dict[str, str] = {
    "joy": """
        happy happier happiest happily happiness joy joyful joyous joyfully glad gladly
        delighted delight delightful cheerful cheery elated elation thrilled excited
        exciting excitement ecstatic euphoric blissful bliss wonderful fantastic amazing
        fun laugh laughed laughing laughter smile smiled smiling grin grinned
        beaming overjoyed jubilant content_with playful giddy yay lovely enjoyed enjoy
        enjoying enjoyable ~good ~nice ~awesome ~light
    """,
    "gratitude": """
        grateful gratefully gratitude thankful thankfully thanks thank thanked thanking
        appreciate appreciated appreciating appreciation appreciative blessed blessing
        blessings fortunate lucky indebted treasure treasured cherish cherished
        cherishing gift privileged ~glad_for
    """,
    "sadness": """
        sad sadly sadder saddest sadness unhappy unhappiness miserable misery sorrow
        sorrowful grief grieve grieving grieved mourn mourning heartbroken heartbreak
        heartache gloomy gloom melancholy melancholic despair despairing hopeless
        hopelessness cry cried crying cries tears tearful wept weep weeping
        disappointed disappointment disappointing dejected downcast crushed devastated
        forlorn depressed glum somber sombre bleak empty emptiness numb regret regretted
        ~down ~blue ~low ~heavy ~hurt ~hurting ~loss ~lost
    """,
    "anxiety": """
        anxious anxiously anxiety anxieties worried worry worries worrying worrisome
        nervous nervously nervousness uneasy unease restless restlessness tense tension
        stressed stress stressful overwhelmed overwhelming overthinking overthink
        overthought panic panicked panicking panicky jittery jitters on_edge dread
        dreading dreaded apprehensive apprehension fret fretting fretted agitated
        racing_thoughts butterflies insecure insecurity ~pressure ~wound_up ~uncertain
    """,
    "anger": """
        angry angrily angrier anger mad furious fury rage raging enraged livid irate
        irritated irritable irritation annoyed annoying annoyance resent resentful
        resentment resented outraged outrage hostile hostility bitter bitterness
        fuming seething infuriated infuriating hate hated hating hatred snapped yelled
        yelling shouted shouting ~cross ~heated
    """,
    "fear": """
        afraid fear feared fearing fearful scared scary frightened frightening fright
        terrified terrifying terror horrified horror petrified alarmed threatened
        intimidated spooked phobia shaking trembling dreadful nightmare nightmares
        ~unsafe ~danger ~dangerous
    """,
    "calm": """
        calm calmer calmly calmness peace peaceful peacefully serene serenity tranquil
        tranquility relaxed relaxing relax unwind unwinding unwound soothing soothed
        centered centred grounded balanced ease at_ease still stillness quiet quietly
        settled composed mellow restful breathe breathing mindful mindfulness
        ~gentle ~slow
    """,
    "loneliness": """
        lonely loneliness lonesome alone isolated isolation isolating left_out
        abandoned abandonment excluded disconnected unwanted forgotten
        friendless solitary ~distant ~apart ~nobody ~missing ~miss ~missed
    """,
    "hope": """
        hope hoped hopes hoping hopeful hopefully optimistic optimism looking_forward
        encouraged encouraging promising aspire aspiring aspiration wish wished
        wishing dream dreaming dreams faith believe believing confident confidence
        eager eagerly anticipate anticipating ~possible ~brighter
    """,
    "frustration": """
        frustrated frustrating frustration stuck fed_up exasperated exasperating
        impatient impatience stymied blocked thwarted helpless powerless tired_of
        sick_of struggle struggled struggling annoyingly ugh argh pointless useless
        wasted setback setbacks ~hassle ~hard
    """,
    "pride": """
        proud proudly pride accomplished accomplishment achievement achieved achieve
        succeeded success successful nailed triumph triumphant capable competent
        confident_in satisfied satisfaction fulfilled fulfilling worthy milestone
        ~won ~win ~finally
    """,
    "shame": """
        ashamed shame shameful embarrassed embarrassing embarrassment humiliated
        humiliation guilty guilt mortified foolish regretful disgraced
        inadequate unworthy worthless failure failed_myself self-conscious ~cringe
        ~awkward ~blame ~blamed
    """,
    "love": """
        love loved loving lovingly adore adored adoring affection affectionate tender
        tenderness warmth caring cared devoted devotion fond fondness sweetheart
        ~close ~warm ~hug ~hugged
    """,
    "tiredness": """
        tired tiredness exhausted exhaustion weary weariness drained fatigue fatigued
        worn_out burnt_out burned_out sleepy drowsy depleted spent lethargic sluggish
        ~heavy-eyed ~beat
    """,
}

THEMES: dict[str, str] = {
    "work": """
        work working worked job jobs office boss manager colleague colleagues coworker
        coworkers career meeting meetings deadline deadlines project projects client
        clients email emails team promotion salary interview shift workload workday
        employer employee hired fired resign resigned presentation launch office-hours ~task ~tasks
    """,
    "family": """
        family families mom mum mother dad father parents parent sister sisters brother
        brothers son sons daughter daughters kids kid children child grandma grandpa
        grandmother grandfather aunt uncle cousin cousins siblings sibling baby
        in-laws homesick
    """,
    "relationships": """
        partner partners boyfriend girlfriend husband wife spouse marriage married
        relationship relationships dating date dated breakup divorce divorced romance
        romantic fiance fiancee anniversary wedding
    """,
    "friendship": """
        friend friends friendship friendships buddy buddies pal mate mates bestie
        best_friend hang_out hung_out catch_up caught_up roommate neighbor neighbour
        neighbors neighbours
    """,
    "health": """
        health healthy sick ill illness doctor doctors hospital pain ache aches headache
        migraine body fever flu cold_symptoms medication medicine therapy therapist
        injury injured exercise exercised workout gym run running ran yoga walk walked
        walking diet eating ate weight stretch stretched ~cough
    """,
    "sleep": """
        sleep slept sleeping sleepless insomnia nap napped napping bed bedtime dream
        nightmare awake woke wake waking rest rested oversleep overslept alarm
        ~night ~tired
    """,
    "money": """
        money budget budgeting bills bill rent mortgage debt debts loan savings saving
        save saved spend spent spending expensive cheap afford paycheck income salary
        bank taxes tax invest investing investment price prices cost costs broke
    """,
    "creativity": """
        write wrote writing written draw drew drawing paint painted painting music
        song songs sing sang singing guitar piano poem poetry story stories create
        created creating creative creativity design designed designing craft photo
        photography novel sketch sketched compose composed
    """,
    "learning": """
        learn learned learning learnt study studied studying course class classes
        lesson lessons book books read reading teacher school university college exam
        exams homework lecture practice practiced practise skill skills tutorial
        language research
    """,
    "nature": """
        nature outside outdoors garden gardening tree trees forest woods park beach
        ocean sea lake river mountain mountains hike hiked hiking sun sunshine sunset
        sunrise rain snow wind sky birds flowers trail
    """,
    "home": """
        house apartment flat room kitchen cleaning cleaned clean tidy tidied chores
        laundry dishes cooking cooked cook dinner lunch breakfast groceries moved
        moving renovation
    """,
    "self-reflection": """
        journal journaling reflect reflecting reflection myself realize realized
        realise realised notice noticed noticing pattern patterns habit habits
        meditate meditated meditation introspection values purpose meaning identity
    """,
}

# Words that strengthen the next emotion word (within two tokens).
INTENSIFIERS = """
    very so really extremely incredibly totally completely utterly deeply truly
    super absolutely terribly awfully overwhelmingly intensely seriously insanely
    especially particularly profoundly hugely immensely exceptionally too most
    such damn bloody
"""

# Words that soften the next emotion word (within two tokens).
DOWNTONERS = """
    slightly somewhat mildly bit little kinda sorta fairly kind_of sort_of
    moderately partly faintly
"""

# Words that cancel an emotion or tension-pole word up to three tokens later
# (or until punctuation, or a scope breaker below).
NEGATORS = """
    not no never nor neither nothing nobody none nowhere without hardly barely
    scarcely lack lacking lacked cannot
    isn't wasn't aren't weren't don't doesn't didn't can't couldn't won't wouldn't
    shouldn't haven't hasn't hadn't ain't mustn't needn't mightn't
    isnt wasnt arent werent dont doesnt didnt cant couldnt wouldnt shouldnt havent
    hasnt hadnt aint no_longer free_of
"""

# Words that end a negation scope: contrast ("not tired but anxious") and double
# negatives ("can't stop worrying", "couldn't help smiling").
SCOPE_BREAKERS = """
    but however though although yet except instead rather stop stopped help
"""

# Words that look like a negator but add instead ("not only tired but also anxious": both).
NOT_NEGATORS = """
    not_only not_just not_merely
"""

# Inside a negation's reach, an "or" carries it on to the next words ("not sad or angry").
ALTERNATIVES = """
    or
"""

# People other than the writer: an emotion word they are the subject of ("my sister is anxious",
# "he was so angry", "mom feels lonely", "her anxiety") is theirs, not the writer's. Story
# characters count as other people.
OTHERS = """
    he she they him his her them their hers theirs himself herself themselves everyone everybody
    someone somebody people others
    mom mum mother dad father parents parent sister sisters brother brothers son sons daughter
    daughters kids kid children child baby grandma grandpa grandmother grandfather aunt uncle
    cousin cousins sibling siblings partner boyfriend girlfriend husband wife spouse fiance fiancee
    friend friends best_friend buddy roommate neighbor neighbour boss manager colleague colleagues
    coworker coworkers client clients customer customers teacher doctor therapist stranger
    man men woman women guy guys girl girls boy boys lady person
    character characters hero heroine protagonist villain narrator
"""

# Stories and media: an emotion word in a sentence about one ("a movie about a sad man") or
# describing one ("a sad song") is the story's, until the writer speaks of themselves.
STORIES = """
    movie movies film films book books novel novels story stories show shows series episode
    episodes documentary song songs poem poems podcast article comic comics anime drama musical
    opera
"""

# Words that keep an emotion word with the person before it: "is", "was so", "seems to be",
# "felt really" (intensifiers and softeners too). Between two emotion words "and" and "or" do
# as well ("he was angry and sad"), but not right after the person ("I called my sister and
# felt sad": the writer felt it).
LINKING = """
    is was are were am be been being seem seems seemed feel feels felt feeling look looks
    looked looking sound sounds sounded get gets got getting become becomes became grow grew
    stay stays stayed remain remains remained act acts acted has had have to also still always
    often sometimes just quite pretty
"""

# First-person words: in a sentence about a story, the writer speaking again ("the movie made
# me sad") takes the emotion words back.
SELF = """
    i i'm im i've ive i'd i'll me my myself mine we we're us our ourselves
"""

# Words that start another clause after a story noun ("I watched a movie and felt sad").
CLAUSE_WORDS = """
    and but then so because while when after afterwards until
"""

# Words before an emotion word that make it describe the noun after it ("a sad song").
DETERMINERS = """
    a an the this that such another some
"""

# Tokens that end a negation scope and an intensifier's reach.
PUNCTUATION = ". , ; : ! ? ( ) \u2014 \u2013 \u2026"

# The five seed tensions: (name, axis_a, axis_b, axis_a words, axis_b words).
# position 0 = fully axis_a, 1 = fully axis_b.
TENSIONS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Control vs Surrender", "Control", "Surrender",
        """
        control controlling controlled in_control plan plans planned planning
        organize organized organizing organise organised schedule scheduled
        micromanage micromanaging perfect perfection perfectionism perfectionist
        rigid strict discipline disciplined structure structured manage managing
        force forced forcing insist insisted fix fixing grip hold_on holding_on
        in_charge must keep_track
        """,
        """
        surrender surrendered surrendering let_go letting_go accept accepted
        accepting acceptance trust trusted trusting flow allow allowed allowing
        release released releasing yield embrace embraced embracing
        whatever_happens uncertainty patience patient faith relinquish unclench
        ~relax ~relaxed ~open
        """,
    ),
    (
        "Connection vs Independence", "Connection", "Independence",
        """
        together connection connected connect connecting close closeness belong
        belonging bond bonded bonding community share shared sharing hug hugged
        intimacy intimate team teamwork support supported gathering reunion
        ~we ~us ~friends ~family
        """,
        """
        independent independence alone solitude autonomy autonomous self-reliant
        self-sufficient freedom ~free own_space my_space by_myself solo
        ~space boundaries boundary distance withdraw withdrew privacy private
        ~myself
        """,
    ),
    (
        "Stability vs Change", "Stability", "Change",
        """
        stable stability steady routine routines familiar predictable security
        secure consistent consistency settled ~same habit habits safe safety
        comfortable comfort grounded tradition reliable normal usual
        """,
        """
        change changes changed changing ~new move moving moved quit quitting leave
        leaving adventure different transition transitions shift shifting grow
        growth risk risky explore exploring ~start starting fresh restart reinvent
        unknown travel leap
        """,
    ),
    (
        "Achievement vs Rest", "Achievement", "Rest",
        """
        achieve achieved achievement accomplish accomplished goal goals productive
        productivity deadline deadlines finish finished win winning ambition
        ambitious hustle grind promotion success successful progress push pushing
        perform performance hard_work work_hard overtime busy effort results
        """,
        """
        rest rested resting relax relaxed relaxing nap napped break vacation holiday
        slow slowing slowed pause paused recharge recharged downtime lazy idle
        breathe recover recovering recovery sleep slept leisure unwind day_off
        do_nothing
        """,
    ),
    (
        "Self vs Others", "Self", "Others",
        """
        myself self-care selfcare me-time my_needs own_needs for_myself boundaries
        selfish prioritize prioritized prioritise independence my_own say_no
        said_no self-respect self-worth
        """,
        """
        others other_people ~everyone ~everybody ~them helping helped please pleasing
        people-pleasing sacrifice sacrificed give giving gave care_for caring_for
        duty obligation obligations expectations expected accommodate accommodating
        support_them for_them their_needs
        """,
    ),
)
