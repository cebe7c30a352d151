"""The topology view: a Tree of namespaces -> devices (bridge ports nested) -> processes.

It is fed whole `NodeSpec` trees and does the least work it can: when the shape is unchanged it only
relabels the nodes whose label changed (one line repaint each); when the shape changed it rebuilds,
keeping what the user did: collapsed nodes stay collapsed, the cursor stays on its target (or on its
nearest surviving neighbour), and the scroll position is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets._tree import _TreeLine
from textual.widgets.tree import TreeNode

from vnettop.ui.targets import Target, nearest_survivor
from vnettop.ui.tree_model import NodeSpec, flatten, shape
from vnettop.ui.widgets.lines import set_virtual_size


class _Node(TreeNode[Target]):
    """A node that tells its tree which namespace's subtree (top-level node) it changed, so the line
    list is rebuilt for that subtree only (see `TopologyTree._build`). Every change of what a subtree's
    lines are passes here: expanding, collapsing, a new label (its width), a child added or removed."""

    def _touch(self) -> None:
        cast("TopologyTree", self._tree)._touched(self)

    def _expand(self, expand_all: bool) -> None:
        super()._expand(expand_all)
        self._touch()

    def _collapse(self, collapse_all: bool) -> None:
        super()._collapse(collapse_all)
        self._touch()

    def set_label(self, label: str | Text) -> None:
        super().set_label(label)
        self._touch()

    def _remove(self) -> None:
        self._touch()
        super()._remove()

    @property
    def allow_expand(self) -> bool:
        return self._allow_expand

    @allow_expand.setter
    def allow_expand(self, allow_expand: bool) -> None:
        self._allow_expand = allow_expand
        self._updates += 1
        self._touch()


#: One namespace's lines, as Tree's `_build` makes them: (lines, widest line, line number of the first).
_Segment = tuple[list[_TreeLine[Target]], int, int]


class TopologyTree(Tree[Target], inherit_bindings=False):
    """Namespaces and their devices. `space` is left to the app (pause); `enter` expands/collapses."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_node", "Expand/collapse", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_node", "Expand", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]

    #: Called before the next frame when the cursor lands on another node (the app names it).
    cursor_moved: Callable[[], None] | None = None

    def __init__(self, **kwargs: object) -> None:
        #: Label widths by the label's id (the label kept beside it, so the id is not reused meanwhile).
        self._widths: dict[int, tuple[Text, int]] = {}
        #: The line list by namespace (top-level node) as last built, and the namespaces changed since.
        self._segments: dict[TreeNode[Target], _Segment] = {}
        self._dirty: set[TreeNode[Target]] = set()
        self.segment_builds = 0  # namespaces whose lines were rebuilt (tests check a change costs one)
        #: Drawn lines kept across changes of the line list (see `_render_line`).
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._look: tuple[object, ...] | None = None  # `_styles_drawn`, until the styles change
        super().__init__("host", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 2
        self._specs: tuple[NodeSpec, ...] = ()
        self._shape: tuple[object, ...] | None = None
        self._by_target: dict[Target, TreeNode[Target]] = {}
        self._collapsed: set[Target] = set()
        self.rebuilds = 0  # how many full rebuilds happened (tests check updates stay cheap)
        self.relabels = 0
        self.patches = 0  # namespace-by-namespace updates
        self._ns_shapes: dict[Target, tuple[object, ...]] = {}

    # -- what is selected ----------------------------------------------------------------------

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        """Tree's, and `cursor_moved` at once when the cursor lands on another node: Tree's
        `NodeHighlighted` reaches the app only after the frame that draws the move, and Textual draws
        the next one 17-33 ms later, so the details' title (the selection's name) lagged the cursor by
        a frame on every move."""
        before = self._cursor_node
        super().watch_cursor_line(previous_line, line)
        moved = self.cursor_moved
        if self._cursor_node is not before and self._cursor_node is not None and moved is not None:
            moved()

    @property
    def current_target(self) -> Target | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def order(self) -> list[Target]:
        """Every target in screen order (expanded or not)."""
        return [spec.target for spec in flatten(self._specs)]

    def has(self, target: Target) -> bool:
        return target in self._by_target

    def select_target(self, target: Target) -> bool:
        """Move the cursor to `target`, expanding its ancestors; False if the tree does not show it."""
        node = self._by_target.get(target)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and not parent.is_root:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        self._refresh_lines_now()
        self.move_cursor(node)
        # The tree's virtual size is only updated by the next layout: scroll again after it, or a jump
        # far down a tree that just grew would be clamped to the old height.
        self.call_after_refresh(self._cursor_into_view)
        return True

    def _restore_scroll(self, scroll_y: float) -> None:
        """Keep the viewport where the user left it, as long as the cursor stays visible."""
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self._cursor_into_view()

    def _cursor_into_view(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.scroll_to_node(node, animate=False)

    def process_label(self, label: str | Text) -> Text:
        """Our labels are single-line Text already (ui/labels.py): used as they are. Tree's own version
        copies every label (`split()`) as it is added, ~5,000 copies when a big tree is rebuilt."""
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def get_label_width(self, node: TreeNode[Target]) -> int:
        """Without rendering the label (Tree's default renders every label on every line rebuild), and
        measured once per label: Tree measures every line whenever its line list is rebuilt (after any
        node is added or removed), and Rich's own cache of measured strings holds 4,096, fewer than the
        lines of a 1,000-namespace tree, so each rebuild measured ~5,000 labels character by character
        (~100 ms). The labels are never changed in place (a new label is a new object), so one measured
        is measured for good."""
        label = node._label
        known = self._widths.get(id(label))
        if known is None or known[0] is not label:
            known = self._widths[id(label)] = (label, label.cell_len)
        return known[1] + (len(self.ICON_NODE_EXPANDED) if node._allow_expand else 0)

    def _add_node(self, parent: TreeNode[Target] | None, label: Text, data: Target | None,
                  expand: bool = False) -> TreeNode[Target]:
        """Tree's, with our node class (which reports changes to its subtree)."""
        node = _Node(self, parent, self._new_id(), label, data, expanded=expand)
        self._tree_nodes[node._id] = node
        self._updates += 1
        if parent is not None:
            self._touched(parent)
        return node

    def _touched(self, node: TreeNode[Target]) -> None:
        """`node`'s lines changed: its namespace's lines must be built again."""
        while node._parent is not None and node._parent._parent is not None:
            node = node._parent
        if node._parent is not None:  # a top-level node (the root itself has no lines of its own)
            self._dirty.add(node)

    def _build(self) -> None:
        """Tree's line list, built namespace by namespace: a namespace none of whose nodes changed keeps
        its lines (only their numbers move). Why: Tree builds the whole list again after any node is
        added or removed, ~6,000 lines at 1,000 namespaces (~7 ms), on every refresh that shows a device
        added in one namespace; here that costs the one namespace and a renumbering. The lines are the
        ones Tree's own `_build` makes (top-level nodes are always `last`, see Tree._build)."""
        if self.show_root:
            self._segments = {}
            super()._build()
            return
        guide_depth = self.guide_depth
        get_label_width = self.get_label_width
        dirty, self._dirty = self._dirty, set()
        old = self._segments
        segments: dict[TreeNode[Target], _Segment] = {}
        lines: list[_TreeLine[Target]] = []
        width = 0
        for top in self.root._children:
            seg = old.get(top)
            start = len(lines)
            if seg is None or top in dirty:
                self.segment_builds += 1
                seg_lines: list[_TreeLine[Target]] = []
                seg_width = 0
                stack: list[tuple[list[TreeNode[Target]], TreeNode[Target], bool]] = [([], top, True)]
                while stack:
                    path, node, last = stack.pop()
                    child_path = [*path, node]
                    node._line = start + len(seg_lines)
                    seg_lines.append(_TreeLine(child_path, last))
                    seg_width = max(seg_width, get_label_width(node) + (len(child_path) - 1) * guide_depth)
                    if node._expanded and node._children:
                        kids = node._children
                        stack.append((child_path, kids[-1], True))
                        stack.extend((child_path, kid, False) for kid in reversed(kids[:-1]))
                seg = (seg_lines, seg_width, start)
            elif seg[2] != start:
                for n, line in enumerate(seg[0], start):
                    line.path[-1]._line = n
                seg = (seg[0], seg[1], start)
            segments[top] = seg
            lines.extend(seg[0])
            width = max(width, seg[1])
        self._segments = segments
        self._tree_lines_cached = lines
        set_virtual_size(self, Size(width if lines else self.size.width, len(lines)))
        if self.cursor_line != -1:
            if self.cursor_node is not None:
                self.cursor_line = self.cursor_node._line
            if self.cursor_line >= len(lines):
                self.cursor_line = -1
        if len(self._widths) > 2 * len(self._tree_nodes) + 64:  # bounded memory
            shown = {id(node._label) for node in self._tree_nodes.values()}
            self._widths = {key: value for key, value in self._widths.items() if key in shown}

    def _invalidate(self) -> None:
        """Tree's, without asking for a layout of the whole screen: Tree asks for one whenever a node is
        added, removed, expanded or collapsed, so every widget on screen was drawn again (~8 ms) on the
        refresh that shows a device added anywhere. This view's box does not depend on its lines (it
        fills its panel): a new line count only changes what it scrolls over (`set_virtual_size` in
        `_build`), and only this view needs drawing again."""
        self._clear_line_cache()
        self._updates += 1
        self.root._reset()
        self.refresh()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """Tree's drawn line, kept by what it shows rather than by the line list's version: Tree forgets
        every drawn line whenever a node is added or removed anywhere, so a device added far off screen
        made the next frame draw all the visible lines again (~7 ms at 40 rows). The key holds all
        Tree's own key holds (the nodes' update counters, which change with their label, cursor, hover
        and expansion) plus the nodes themselves and where they stand among their siblings.

        Of the nodes above the line's own, only what Tree draws from them is in the key (whether each is
        the last of its siblings, hovered or selected: their guides), not their update counters: Tree
        sets its cursor again (counting 3 updates of the cursor's node) every time its line list is
        rebuilt, so with the cursor on a namespace every visible line of that namespace was drawn again
        after each change anywhere on the host (~8 ms at 1,000 namespaces)."""
        lines = self._tree_lines
        if y >= len(lines):
            return super()._render_line(y, x1, x2, base_style)
        line = lines[y]
        path = line.path
        own = path[-1]
        look = self._look
        if look is None:
            look = self._look = self._styles_drawn()
        key = (y, x1, x2, base_style, self.size.width, self.virtual_size.width, self.hover_line == y,
               self.cursor_line == y, self._pseudo_class_state, look, line.last, own, own._updates,
               own.is_last, tuple((node, node.is_last, node._hover, node._selected) for node in path[:-1]))
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = super()._render_line(y, x1, x2, base_style)
        return strip

    def _styles_drawn(self) -> tuple[object, ...]:
        """Every style Tree draws a line with (see Tree._render_line), as it is now."""
        get = self.get_component_rich_style
        return (get("tree--guides", partial=True), get("tree--guides-hover", partial=True),
                get("tree--guides-selected", partial=True), get("tree--highlight-line"),
                get("tree--label", partial=True), get("tree--highlight", partial=True),
                get("tree--cursor", partial=False), self.show_guides, self.guide_depth)

    def notify_style_update(self) -> None:
        """A style change (focus, theme) changes how lines look, not which lines there are. Tree's own
        version drops the line list and asks for a layout of the whole screen, which on a 1,000-line
        tree made every focus change (each view switch) ~10 ms slower; here the drawn lines are looked
        up again with the styles as they are now (`_styles_drawn`, in the key with the focus state):
        those drawn with the same styles are kept, so coming back to this view (it gets the focus
        again) does not draw all its visible lines again (~10 ms at 40 rows)."""
        super(Tree, self).notify_style_update()
        self._line_cache.clear()
        self._look = None
        self._updates += 1
        self.refresh()

    def _on_resize(self, event: events.Resize) -> None:
        """Tree's own handler rebuilds the line list and lays out the whole screen on every resize,
        including the one each time this view is switched back in (hidden views have no size): ~20 ms
        more for a 1,000-line tree. The lines do not depend on the size (the kept drawn lines are keyed
        by width), so a repaint is enough."""
        event.prevent_default()  # Tree's handler (found by the MRO walk after this one) is not run
        self._line_cache.grow(event.size.height)
        self._strips.grow(event.size.height)
        self.refresh()
        # A shorter view (the details pane shown under it on a small terminal) must not hide the cursor.
        self.call_after_refresh(self._cursor_into_view)

    def _refresh_lines_now(self) -> None:
        """Rebuild the line list now: nodes' line numbers are needed at once to place the cursor."""
        self._invalidate()
        _ = self._tree_lines

    # -- feeding -----------------------------------------------------------------------------------

    def show(self, specs: tuple[NodeSpec, ...]) -> Target | None:
        """Display a new tree. Returns the target the cursor was moved to if its own vanished."""
        shown = {spec.target: spec for spec in self._specs}
        # A subtree handed over again as the very same object (reused by the builder) has its old shape.
        ns_shapes = {spec.target: self._ns_shapes[spec.target] if shown.get(spec.target) is spec
                     else shape((spec,)) for spec in specs}
        new_shape = tuple(ns_shapes.values())
        if new_shape == self._shape:
            self._relabel(self._specs, specs)
            self._specs, self._ns_shapes = specs, ns_shapes
            return None
        before = self.current_target
        old_specs = self._specs  # its screen order is needed only if the selection vanishes
        scroll_y = self.scroll_y
        if self._specs and self._patch(specs, ns_shapes):
            self.patches += 1
        else:
            self._rebuild(specs)
            self.rebuilds += 1
        self._specs, self._shape, self._ns_shapes = specs, new_shape, ns_shapes
        moved_to: Target | None = None
        if before is not None:
            target: Target | None = before
            if before not in self._by_target:
                old_order = [spec.target for spec in flatten(old_specs)]
                target = nearest_survivor(old_order, before, self._by_target)
                moved_to = target
            if target is not None:
                self.select_target(target)
            self.call_after_refresh(self._restore_scroll, scroll_y)
        elif self._by_target:
            self._refresh_lines_now()
            self.cursor_line = 0
        return moved_to

    def _relabel(self, old: tuple[NodeSpec, ...], new: tuple[NodeSpec, ...]) -> None:
        for a, b in zip(old, new, strict=False):
            if a is b:  # the same cached spec: nothing below it changed either
                continue
            if a.label is not b.label and a.label != b.label:
                node = self._by_target.get(b.target)
                if node is not None:
                    node.set_label(b.label)
                    self.relabels += 1
            if a.children or b.children:
                self._relabel(a.children, b.children)

    def _patch(self, specs: tuple[NodeSpec, ...], ns_shapes: dict[Target, tuple[object, ...]]) -> bool:
        """Update namespace by namespace: only namespaces whose content changed shape are rebuilt, new
        ones inserted, gone ones removed (on a busy host one namespace changes at a time). False when
        the surviving namespaces changed order (then the caller rebuilds everything)."""
        old = {spec.target: spec for spec in self._specs}
        wanted = {spec.target for spec in specs}
        kept_before = [s.target for s in self._specs if s.target in wanted]
        if kept_before != [s.target for s in specs if s.target in old]:
            return False
        for spec in self._specs:
            if spec.target not in wanted:
                self._by_target[spec.target].remove()
                self._forget(spec)
        for index, spec in enumerate(specs):
            prev = old.get(spec.target)
            if prev is None:
                self._insert(spec, index)
            elif self._ns_shapes.get(spec.target) != ns_shapes[spec.target]:
                self._by_target[spec.target].remove()
                self._forget(prev)
                self._insert(spec, index)
            else:
                self._relabel((prev,), (spec,))
        return True

    def _forget(self, spec: NodeSpec) -> None:
        for item in flatten((spec,)):
            self._by_target.pop(item.target, None)

    def _insert(self, top: NodeSpec, index: int) -> None:
        """Add one top-level subtree at `index` (expanded unless the user collapsed it)."""
        stack: list[tuple[TreeNode[Target], NodeSpec, int | None]] = [(self.root, top, index)]
        while stack:
            parent, spec, at = stack.pop()
            if spec.children:
                node = parent.add(spec.label, spec.target, before=at,
                                  expand=spec.target not in self._collapsed)
                stack.extend((node, child, None) for child in reversed(spec.children))
            else:
                node = parent.add_leaf(spec.label, spec.target, before=at)
            self._by_target[spec.target] = node

    def _rebuild(self, specs: tuple[NodeSpec, ...]) -> None:
        self.clear()
        self._by_target = {}
        for index, spec in enumerate(specs):
            self._insert(spec, index)
        self.root.expand()

    # -- user actions ------------------------------------------------------------------------------

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Target]) -> None:
        if event.node.data is not None:
            self._collapsed.add(event.node.data)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Target]) -> None:
        if event.node.data is not None:
            self._collapsed.discard(event.node.data)

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and not node.parent.is_root:
            self.move_cursor(node.parent)

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()
